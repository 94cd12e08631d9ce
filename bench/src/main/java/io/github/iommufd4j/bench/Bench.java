package io.github.iommufd4j.bench;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MapUnmapCost;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.ToDoubleFunction;

import static io.github.iommufd4j.bench.Row.Target.atLeast;
import static io.github.iommufd4j.bench.Row.Target.atMost;
import static io.github.iommufd4j.bench.Row.Target.ratioAtLeast;
import static io.github.iommufd4j.bench.Row.Target.ratioAtMost;

/**
 * {@code iommufd4j bench [--smoke|--quick|--full] [--out DIR] [--c DIR]}: every benchmark in one
 * run, one table. Java runs on the backend {@code Iommufd.open()} picks (the kernel's in a guest,
 * the software one on a bare host); the C baselines run where /dev/iommu exists and are n/a
 * elsewhere. Writes bench.txt, bench.json, bench.png and bench.properties (what the command line
 * records in bench/RESULTS.md) into DIR (default bench/target/bench). Each figure is measured
 * {@link Sizes#reps()} times in the run and reported as the median with its spread. Exit status 1
 * when a baseline could not run (a C baseline missing or failing, the kernel mock where Java ran
 * on the software backend): every other row is still measured and the notes name the row and why.
 */
public final class Bench {
    /** Fault loads: (queues, trigger threads); several = Sizes.severalTriggers. */
    private static final int[][] LOADS = {{1, 1}, {1, 0}, {8, 1}, {8, 0}};
    private static final String[] C_STYLES = {"blocking", "uring-read", "uring-poll", "uring-write"};
    /** "0 bytes" per operation: less than one byte on average over the timed loop. */
    private static final Row.Target ZERO = atMost(0.99, "0 (< 1)");

    private final Sizes sizes;
    private final CBaseline c;
    private final PrintStream log;
    private final List<Row> rows = new ArrayList<>();
    private final Set<String> notes = new LinkedHashSet<>();
    /** The groups IOMMUFD4J_BENCH_ONLY names (map, faults, jfr, software), or null for all. */
    private final List<String> only = only(System.getenv("IOMMUFD4J_BENCH_ONLY"));

    Bench(Sizes sizes, CBaseline c, PrintStream log) {
        this.sizes = sizes;
        this.c = c;
        this.log = log;
    }

    public static void main(String[] args) throws Exception {
        String mode = "quick";
        Path out = Path.of("bench/target/bench");
        Path cDir = Path.of(System.getProperty("iommufd4j.bench.c", "bench/target/c"));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--smoke", "--quick", "--full" -> mode = args[i].substring(2);
                case "--out" -> out = Path.of(args[++i]);
                case "--c" -> cDir = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: iommufd4j bench [--smoke|--quick|--full] [--out DIR] [--c DIR]");
                    System.exit(2);
                }
            }
        }
        try {
            only(System.getenv("IOMMUFD4J_BENCH_ONLY"));
        } catch (IllegalArgumentException e) {
            System.err.println("iommufd4j bench: " + e.getMessage()); // wrong usage, before any work
            System.exit(2);
        }
        Report report = new Bench(Sizes.of(mode), new CBaseline(cDir), System.err).run();
        report.write(out);
        System.out.print(report.text());
        System.out.println("written: " + out.resolve("bench.txt") + ", bench.json, bench.png, bench.properties");
        // Exit 1 when a baseline could not run: the table is written, its notes say which row and why.
        System.exit(report.exitStatus());
    }

    Report run() throws Exception {
        long start = System.nanoTime();
        Environment env = Environment.detect();
        String backend;
        double[] kernelMapNs = null;
        String noKernel;
        try (Iommufd fd = Iommufd.open()) {
            backend = fd.backend().name().toLowerCase(Locale.ROOT);
            // Without a mock driver no figure at all can be measured: nothing to tabulate.
            if (!fd.mock().isPresent()) throw new IllegalStateException("no iommufd mock driver: " + fd.backendReason());
            notes.add("Java backend: " + backend + " (" + fd.backendReason() + ")");
            noKernel = "the kernel mock: not measured, Java ran on the " + backend + " backend (" + fd.backendReason() + ")";
            if (runs("map") || runs("software")) {
                double[] ns4k = mapUnmap(fd, backend);
                if (fd.backend() == Backend.NATIVE) kernelMapNs = ns4k;
            }
            if (runs("faults")) {
                for (int[] load : LOADS) faults(fd, backend, load[0], load[1] == 0 ? sizes.severalTriggers() : load[1], load == LOADS[0]);
            }
            if (runs("jfr")) jfr(fd, backend);
        }
        if (runs("software")) software(kernelMapNs, noKernel);
        if (only != null) notes.add("a partial table: IOMMUFD4J_BENCH_ONLY=" + String.join(",", only));
        notes.add("figures: the median of " + sizes.reps() + (sizes.reps() == 1 ? " repetition" : " repetitions")
                + " in this run; A/B: the median of the per-repetition ratios; spread: their lowest-highest (of A for a single figure)");
        String clock = System.getenv("IOMMUFD4J_BENCH_CLOCK");
        if (clock != null && !clock.isBlank()) {
            notes.add("the guest's clock counted " + clock + ": a nanosecond is one instruction run by a vCPU (either), so each time"
                    + " is the instructions both vCPUs ran, idle excluded, whatever the host's load");
        } else if (env.inGuest()) {
            notes.add("QEMU without KVM (TCG) slows everything down: compare ratios, not absolute figures");
        }
        return new Report(sizes.mode(), sizes.reps(), env, backend, List.copyOf(rows), List.copyOf(notes), (System.nanoTime() - start) / 1e9);
    }

    /** Java and C map+unmap of 4 KiB and 2 MiB; returns Java's ns per 4 KiB pair, per repetition. */
    private double[] mapUnmap(Iommufd fd, String backend) throws Exception {
        double[] ns4k = null;
        int n = sizes.reps();
        for (long size : new long[] {4096, 2 << 20}) {
            boolean small = size == 4096;
            String name = small ? "4 KiB" : "2 MiB";
            int pairs = small ? sizes.mapPairs4k() : sizes.mapPairs2m();
            int warmup = small ? sizes.mapWarmup() : sizes.mapWarmup() / 10;
            log.printf("bench: map+unmap %s, %d pairs, %d repetitions: C, Java%n", name, pairs, n);
            double[] cNs = new double[n], jNs = new double[n], jBytes = new double[n];
            String notRun = null;
            // C and Java alternate, so that both sides of a repetition see the same load of a
            // shared machine. The JIT warms up before the first one: in a guest whose clock counts
            // the instructions of every thread, its compiler threads would otherwise be counted
            // in the first repetition of both sides (C's too, run while they compile).
            MapUnmap.run(fd, size, pairs, warmup, sizes.warmupMillis());
            for (int rep = 0; rep < n; rep++) {
                var cr = c.run("map_unmap", "--size", size, "--pairs", pairs, "--warmup", warmup);
                notRun = first(notRun, cr.failure());
                cNs[rep] = cr.number("ns_per_pair");
                var jr = MapUnmap.run(fd, size, pairs, warmup, 0);
                jNs[rep] = jr.nsPerPair();
                jBytes[rep] = jr.bytesPerPair();
            }
            rows.add(Row.pair("map+unmap " + name + ", Java vs C", "ns/pair", "Java " + backend, jNs,
                    "C", cNs, ratioAtMost(1.05), null).notRun(notRun));
            rows.add(Row.single("allocated per map+unmap " + name + " (Java)", "bytes/pair", "Java " + backend,
                    jBytes, ZERO, null));
            if (small) ns4k = jNs;
        }
        if (fd.backend() == Backend.NATIVE) {
            log.printf("bench: map+unmap 4 KiB, where Java's time goes: %d pairs per variant, %d repetitions%n", sizes.mapPairs4k(), n);
            MapUnmapCost.Result[] cost = new MapUnmapCost.Result[n];
            for (int rep = 0; rep < n; rep++) cost[rep] = MapUnmap.cost(fd, sizes.mapPairs4k(), rep == 0 ? sizes.warmupMillis() / 2 : 0);
            rows.add(Row.pair("map+unmap 4 KiB, Java API vs the same ioctls by bare FFM", "ns/pair", "Java API",
                    each(cost, MapUnmapCost.Result::api), "bare FFM", each(cost, MapUnmapCost.Result::ffm), null, costNote(cost)));
        }
        return ns4k;
    }

    /** One fault load: the C handler styles, the Java pump and the Java blocking loops. */
    private void faults(Iommufd fd, String backend, int queues, int triggers, boolean firstLoad) throws Exception {
        String load = queues + (queues == 1 ? " queue, " : " queues, ") + triggers + (triggers == 1 ? " trigger" : " triggers");
        int n = sizes.reps();
        log.printf("bench: faults, %s, %d faults, %d repetitions: C %s, Java pump (read(2); ring reads on the kernel), Java blocking%n",
                load, sizes.faults(), n, String.join(", ", C_STYLES));
        double[][] cFps = new double[C_STYLES.length][n], cCalls = new double[C_STYLES.length][n];
        double[][] cHandlerCpu = new double[C_STYLES.length][n], cTriggerCpu = new double[C_STYLES.length][n];
        double[][] cWaits = new double[C_STYLES.length][n];
        String[] cFailed = new String[C_STYLES.length];
        double[] pumpFps = new double[n], pumpCalls = new double[n], pumpBytes = new double[n];
        double[] pumpCpu = new double[n], pumpTriggerCpu = new double[n], pumpWaits = new double[n];
        double[] ringFps = new double[n], blockingFps = new double[n], blockingBytes = new double[n];
        double[] blockingCpu = new double[n], blockingTriggerCpu = new double[n], cTrigger = new double[n], javaTrigger = new double[n];
        double[] cDrain = new double[n], javaDrain = new double[n], cDrainCpu = new double[n], javaDrainCpu = new double[n];
        double[] cDrainCalls = new double[n], javaDrainCalls = new double[n], cDrainSmallCpu = new double[n], javaDrainSmallCpu = new double[n];
        String cTriggerFailed = null;
        long compileMillis = 0;
        int ioWorkers = -1;
        boolean kernel = fd.backend() == Backend.NATIVE; // RING needs the kernel's fds
        // The first load starts with a repetition that is not kept: in the first seconds the guest and
        // this JVM still do start-up work beside the timed rounds (it doubled some of them).
        for (int rep = firstLoad ? -1 : 0; rep < n; rep++) { // alternating, as for map+unmap
            int at = Math.max(rep, 0); // the repetition not kept is overwritten
            if (rep == 0) compileMillis = 0;
            for (int i = 0; i < C_STYLES.length; i++) {
                FaultLoad.quiesce(); // no JIT compilation of ours beside the C baseline
                var r = c.run("faults", "--mode", C_STYLES[i], "--queues", queues, "--triggers", triggers,
                        "--faults", sizes.faults(), "--batch", Sizes.BATCH, "--window", Sizes.WINDOW);
                cFailed[i] = first(cFailed[i], r.failure());
                cFps[i][at] = r.number("faults_per_s");
                cCalls[i][at] = r.number("syscalls_per_fault");
                cHandlerCpu[i][at] = r.number("handler_cpu_ns_per_fault");
                cTriggerCpu[i][at] = r.number("trigger_cpu_ns_per_fault");
                cWaits[i][at] = r.number("trigger_waits");
            }
            FaultLoad.quiesce();
            var t = c.run("faults", "--mode", "trigger", "--queues", queues, "--triggers", triggers, "--faults", sizes.faults(),
                    "--batch", Sizes.BATCH, "--window", Sizes.WINDOW);
            cTriggerFailed = first(cTriggerFailed, t.failure());
            cTrigger[at] = 1e9 / t.number("faults_per_s");
            int warm = rep <= 0 ? sizes.warmupMillis() : 0;
            var p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, queues, triggers, sizes.faults(), warm);
            // After the pump's run: its warm-up has compiled the triggers' path too.
            javaTrigger[at] = 1e9 / FaultLoad.run(fd.backend(), FaultLoad.Style.TRIGGER, queues, triggers, sizes.faults(), warm)
                    .faultsPerSecond();
            if (triggers == 1 && kernel) { // the handler alone: the trigger count does not matter
                FaultLoad.quiesce();
                var d = c.run("faults", "--mode", "drain", "--queues", queues, "--triggers", 1, "--faults", sizes.faults(),
                        "--batch", Sizes.BATCH, "--window", Sizes.WINDOW);
                cTriggerFailed = first(cTriggerFailed, d.failure());
                cDrain[at] = 1e9 / d.number("faults_per_s");
                cDrainCpu[at] = d.number("handler_cpu_ns_per_fault");
                cDrainCalls[at] = d.number("syscalls_per_fault");
                var j = FaultLoad.drain(fd.backend(), queues, 1, sizes.faults(), Sizes.BATCH);
                javaDrain[at] = 1e9 / j.faultsPerSecond();
                javaDrainCpu[at] = j.handlerCpuNs();
                javaDrainCalls[at] = j.syscallsPerFault();
                if (queues == 1) { // smaller batches: what the handlers spend per batch and per fault
                    FaultLoad.quiesce();
                    var d16 = c.run("faults", "--mode", "drain", "--queues", 1, "--triggers", 1, "--faults", sizes.faults(),
                            "--batch", SMALL_BATCH, "--window", Sizes.WINDOW);
                    cTriggerFailed = first(cTriggerFailed, d16.failure());
                    cDrainSmallCpu[at] = d16.number("handler_cpu_ns_per_fault");
                    javaDrainSmallCpu[at] = FaultLoad.drain(fd.backend(), 1, 1, sizes.faults(), SMALL_BATCH).handlerCpuNs();
                }
            }
            pumpFps[at] = p.faultsPerSecond();
            pumpCalls[at] = p.syscallsPerFault();
            pumpBytes[at] = p.bytesPerFault();
            pumpCpu[at] = p.handlerCpuNs();
            pumpTriggerCpu[at] = p.triggerCpuNs();
            pumpWaits[at] = p.triggerWaits();
            ioWorkers = Math.max(ioWorkers, p.ioWorkers());
            compileMillis += Math.max(0, p.compileMillis());
            if (kernel) {
                var r = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP_RING, queues, triggers, sizes.faults(), warm);
                ringFps[at] = r.faultsPerSecond();
                compileMillis += Math.max(0, r.compileMillis());
            }
            var b = FaultLoad.run(fd.backend(), FaultLoad.Style.BLOCKING, queues, triggers, sizes.faults(), warm);
            blockingFps[at] = b.faultsPerSecond();
            blockingBytes[at] = b.bytesPerFault();
            blockingCpu[at] = b.handlerCpuNs();
            blockingTriggerCpu[at] = b.triggerCpuNs();
            compileMillis += Math.max(0, b.compileMillis());
        }
        // "Best C": the style with the highest median; a style that did not run leaves the row incomplete.
        int blocking = 0, poll = List.of(C_STYLES).indexOf("uring-poll");
        int best = -1;
        String anyFailed = null;
        for (int i = 0; i < C_STYLES.length; i++) {
            anyFailed = first(anyFailed, cFailed[i]);
            double m = Spread.of(cFps[i]).median();
            if (!Double.isNaN(m) && (best < 0 || m > Spread.of(cFps[best]).median())) best = i;
        }
        String javaPump = "Java " + backend + " pump", bestC = "C " + (best < 0 ? "best" : C_STYLES[best]);
        rows.add(Row.pair("faults, " + load + ": Java pump vs best C", "ns/fault", javaPump, inverse(pumpFps),
                bestC, best < 0 ? nan(n) : inverse(cFps[best]), ratioAtMost(1.05), null)
                .notRun(anyFailed));
        // Where the time goes. The triggers alone (no handler) cost what they cost in a handled round
        // but the wake-ups of the handler; the rest of a round's time is the handler's share.
        double[] pumpShare = minus(inverse(pumpFps), javaTrigger), cShare = best < 0 ? nan(n) : minus(inverse(cFps[best]), cTrigger);
        rows.add(Row.pair("triggers alone, " + load + ": Java MockDevice.triggerPageFault vs C ioctl", "ns/fault", "Java triggers",
                javaTrigger, "C triggers", cTrigger, null, null).notRun(cTriggerFailed));
        rows.add(Row.pair("handler's share, " + load + ": Java pump vs best C (round minus triggers alone)", "ns/fault", javaPump,
                pumpShare, bestC, cShare, null,
                String.format(Locale.ROOT, "CPU time per fault (medians; a thread's CPU time also counts the other vCPU's"
                                + " instructions while both run): handler thread(s) Java pump %.0f, %s %.0f, Java blocking %.0f, C"
                                + " blocking %.0f; triggers in the pump's round %.0f, in %s's %.0f; triggers parked for room in the window"
                                + " per round: Java pump %.0f, %s %.0f; JIT compilation during the timed Java rounds of this load: %d ms",
                        Spread.of(pumpCpu).median(), bestC, best < 0 ? Double.NaN : Spread.of(cHandlerCpu[best]).median(),
                        Spread.of(blockingCpu).median(), Spread.of(cHandlerCpu[blocking]).median(), Spread.of(pumpTriggerCpu).median(),
                        bestC, best < 0 ? Double.NaN : Spread.of(cTriggerCpu[best]).median(), Spread.of(pumpWaits).median(), bestC,
                        best < 0 ? Double.NaN : Spread.of(cWaits[best]).median(), compileMillis))
                .notRun(first(anyFailed, cTriggerFailed)));
        if (triggers == 1 && kernel) {
            // The handler thread's CPU time, not the drain's elapsed time: the latter also counts the
            // pump's start and whatever else this JVM runs meanwhile (it varied 1.3-5.9x C).
            rows.add(Row.pair("handler alone, " + load.substring(0, load.indexOf(',')) + ": Java pump vs C uring-write, draining queued faults",
                    "ns/fault", javaPump + " thread", javaDrainCpu, "C uring-write thread", cDrainCpu, null,
                    String.format(Locale.ROOT, "the handler thread's CPU time per fault after its first batch (the other vCPU idle: its"
                            + " instructions); whole batches of %d, no wake-ups; system calls per fault: Java pump %.3f, C uring-write %.3f;"
                            + " elapsed from the handler's start (medians): Java %.0f, C %.0f; a guest profile puts the same kernel work"
                            + " under both and the difference in the Java code around each group (docs/performance.md)",
                            Sizes.BATCH, Spread.of(javaDrainCalls).median(),
                            Spread.of(cDrainCalls).median(), Spread.of(javaDrain).median(), Spread.of(cDrain).median()))
                    .notRun(cTriggerFailed));
            if (queues == 1) {
                // cpu(b) = per fault + per batch / b at batch sizes b and SMALL_BATCH: solved for both.
                double j64 = Spread.of(javaDrainCpu).median(), j16 = Spread.of(javaDrainSmallCpu).median();
                double c64 = Spread.of(cDrainCpu).median(), c16 = Spread.of(cDrainSmallCpu).median();
                rows.add(Row.pair("handler alone, 1 queue, batches of " + SMALL_BATCH + ": Java pump vs C uring-write, CPU", "ns/fault",
                        javaPump + " thread", javaDrainSmallCpu, "C uring-write thread", cDrainSmallCpu, null,
                        String.format(Locale.ROOT, "with batches of %d: per fault %.0f (Java) vs %.0f (C), per batch %.0f vs %.0f"
                                        + " (solved from the medians at %d and %d)", Sizes.BATCH, perFault(j64, j16), perFault(c64, c16),
                                perBatch(j64, j16), perBatch(c64, c16), Sizes.BATCH, SMALL_BATCH)).notRun(cTriggerFailed));
            }
        }
        rows.add(Row.pair("system calls per fault, " + load + ": Java pump vs C uring-poll", "calls/fault", javaPump,
                pumpCalls, "C uring-poll", cCalls[poll], ratioAtMost(1.0),
                "medians: C uring-write " + Report.number(Spread.of(cCalls[C_STYLES.length - 1]).median(), 3) + ", C blocking "
                        + Report.number(Spread.of(cCalls[blocking]).median(), 3) + "; io-wq workers of the pump thread: " + ioWorkers
                        + String.format(Locale.ROOT, "; a round's calls per fault follow how many faults wait at each wake-up, so the"
                                + " triggers' speed: Java's cost %.0f ns per fault, C's %.0f (triggers alone); on queued faults see handler alone",
                        Spread.of(javaTrigger).median(), Spread.of(cTrigger).median()))
                .notRun(cFailed[poll]));
        if (kernel) {
            rows.add(Row.pair("faults, " + load + ": Java pump, ring reads vs read(2)", "ns/fault", javaPump + " (ring reads)",
                    inverse(ringFps), javaPump, inverse(pumpFps), null, null));
        }
        rows.add(Row.pair("faults, " + load + ": Java blocking vs C blocking", "ns/fault", "Java " + backend + " blocking",
                inverse(blockingFps), "C blocking", inverse(cFps[blocking]), null, null).notRun(cFailed[blocking]));
        if (queues > 1) {
            rows.add(Row.pair("faults, " + load + ": 1 Java pump thread vs " + queues + " C blocking", "faults/s", javaPump,
                    pumpFps, "C blocking x" + queues, cFps[blocking], ratioAtLeast(1.0),
                    String.format(Locale.ROOT, "each round includes its own trigger threads: Java's cost %.0f ns per fault, C's %.0f"
                            + " (triggers alone, medians); where the guest's clock counts instructions, the %d C threads get no credit for"
                            + " running side by side (faults/s is one over the instructions per fault)",
                            Spread.of(javaTrigger).median(), Spread.of(cTrigger).median(), queues)).notRun(cFailed[blocking]));
        }
        if (triggers == 1) {
            for (int i = 1; i < C_STYLES.length; i++) {
                rows.add(Row.pair("faults, " + load + ": C " + C_STYLES[i] + " vs C blocking", "ns/fault", "C " + C_STYLES[i],
                        inverse(cFps[i]), "C blocking", inverse(cFps[blocking]), null, null).notRun(first(cFailed[i], cFailed[blocking])));
            }
        }
        if (queues == 1 && triggers == 1 || queues > 1 && triggers > 1) {
            rows.add(Row.single("allocated per fault, Java pump, " + load, "bytes/fault", javaPump, pumpBytes, ZERO, null));
            rows.add(Row.single("allocated per fault, Java blocking, " + load, "bytes/fault", "Java " + backend + " blocking",
                    blockingBytes, ZERO, null));
        }
    }

    /**
     * JFR off against a recording of the library's events ({@link JfrCost}): map+unmap of 4 KiB and
     * the pump with 1 queue and 1 trigger, time and bytes allocated, alternating.
     */
    private void jfr(Iommufd fd, String backend) throws Exception {
        int n = sizes.reps();
        log.printf("bench: JFR off vs a recording of the library's events: map+unmap 4 KiB, faults (1 queue, 1 trigger), %d repetitions%n", n);
        double[] mapOff = new double[n], mapOn = new double[n], mapOffBytes = new double[n], mapOnBytes = new double[n];
        double[] pumpOff = new double[n], pumpOn = new double[n], pumpOffBytes = new double[n], pumpOnBytes = new double[n];
        long events = 0;
        for (int rep = 0; rep < n; rep++) {
            int warm = rep == 0 ? sizes.warmupMillis() : 0;
            var m = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm);
            mapOff[rep] = m.nsPerPair();
            mapOffBytes[rep] = m.bytesPerPair();
            var p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, sizes.faults(), warm);
            pumpOff[rep] = p.faultsPerSecond();
            pumpOffBytes[rep] = p.bytesPerFault();
            JfrCost recording = new JfrCost();
            try (recording) {
                m = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm);
                p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, sizes.faults(), warm);
            }
            events = recording.events();
            mapOn[rep] = m.nsPerPair();
            mapOnBytes[rep] = m.bytesPerPair();
            pumpOn[rep] = p.faultsPerSecond();
            pumpOnBytes[rep] = p.bytesPerFault();
        }
        String on = "Java " + backend + ", JFR on", off = "JFR off";
        String note = events + " events of the library in the last recording";
        rows.add(Row.pair("map+unmap 4 KiB: JFR recording vs off", "ns/pair", on, mapOn, off, mapOff, null, note));
        rows.add(Row.pair("allocated per map+unmap 4 KiB: JFR recording vs off", "bytes/pair", on, mapOnBytes, off, mapOffBytes, null, null));
        rows.add(Row.pair("faults, 1 queue, 1 trigger: Java pump, JFR recording vs off", "faults/s", on, pumpOn, off, pumpOff, null, null));
        rows.add(Row.pair("allocated per fault, Java pump: JFR recording vs off", "bytes/fault", on, pumpOnBytes, off, pumpOffBytes, null, null));
    }

    /**
     * The software backend: map/unmap against the kernel mock (its ns per pair per repetition, or
     * null with the reason in {@code noKernel}), heap at scale, translate (JMH).
     */
    private void software(double[] kernelMapNs, String noKernel) throws Exception {
        int n = sizes.reps();
        log.printf("bench: software backend: map+unmap (%d repetitions), %d mappings, translate (JMH)%n", n, sizes.scaleMappings());
        double[] sw = new double[n], bare = new double[n], ioctls = new double[n], swBytes = new double[n];
        int pairs = sizes.mapPairs4k();
        int rounds;
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            // Under QEMU the JIT is still compiling these loops billions of instructions in, and the
            // guest's clock counts the compiler threads too: after the usual warm-up, all three
            // loops run in rounds until they settle.
            MapUnmap.run(fd, 4096, pairs, sizes.mapWarmup(), sizes.warmupMillis(), true);
            rounds = untilSteady(() -> new double[] {MapUnmap.run(fd, 4096, pairs, sizes.mapWarmup(), 0, true).nsPerPair(),
                    MapUnmap.run(fd, 4096, pairs, sizes.mapWarmup(), 0, false).nsPerPair(),
                    SoftwareIoctls.run(pairs, sizes.mapWarmup(), 0)});
            for (int rep = 0; rep < n; rep++) {
                var r = MapUnmap.run(fd, 4096, pairs, sizes.mapWarmup(), 0, true);
                sw[rep] = r.nsPerPair();
                swBytes[rep] = r.bytesPerPair();
                bare[rep] = MapUnmap.run(fd, 4096, pairs, sizes.mapWarmup(), 0, false).nsPerPair();
                ioctls[rep] = SoftwareIoctls.run(pairs, sizes.mapWarmup(), 0);
            }
        }
        double swNs = Spread.of(sw).median(), bareNs = Spread.of(bare).median(), ioctlNs = Spread.of(ioctls).median();
        // With a domain every map tests the pin as the kernel pins: one madvise(2) per map (docs/software-backend.md).
        String parts = String.format(Locale.ROOT, "of %.0f ns per pair (medians): the backend's ioctls alone %.0f ns, the typed API %.0f ns"
                + " (no domain minus ioctls alone), the pin test %.0f ns (mock domain minus no domain)", swNs, ioctlNs, bareNs - ioctlNs,
                swNs - bareNs);
        if (kernelMapNs != null) {
            parts += String.format(Locale.ROOT, "; 5x the kernel mock leaves %.0f ns per pair", Spread.of(kernelMapNs).median() / 5);
        }
        rows.add(Row.pair("map+unmap 4 KiB, software vs kernel mock", "ops/s", "software", inverse(sw),
                "kernel mock", kernelMapNs == null ? nan(n) : inverse(kernelMapNs), ratioAtLeast(5), parts)
                .notRun(kernelMapNs == null ? noKernel : null));
        rows.add(Row.single("map+unmap 4 KiB, software, no domain (nothing pinned)", "M pairs/s", "software", millions(inverse(bare)),
                atLeast(5, ">= 5 M/s"), String.format(Locale.ROOT, "the backend's ioctls alone: %.2f M pairs/s; warmed until every"
                        + " map+unmap loop's figure moved by less than %.0f%% from the previous round (%d rounds of %d pairs each)",
                        1e3 / ioctlNs, STEADY * 100, rounds, pairs)));
        rows.add(Row.single("allocated per map+unmap 4 KiB (software, mock domain)", "bytes/pair", "software", swBytes, ZERO, null));
        // Measured once (a heap reading, not a rate): its spread column shows the single figure.
        var scale = SoftwareScale.run(sizes.scaleMappings());
        double perMillion = scale.heapMiB() * 1_000_000.0 / scale.mappings();
        rows.add(Row.single("heap for 1M 4 KiB mappings (software)", "MiB", "software", new double[] {perMillion}, atMost(128, "<= 128 MiB"),
                scale.mappings() == 1_000_000 ? String.format(Locale.ROOT, "%.0f ns per map; measured once", scale.nsPerMap())
                        : String.format(Locale.ROOT, "extrapolated from %d mappings (%.2f MiB); measured once", scale.mappings(), scale.heapMiB())));
        // Guest RAM as 16 x 64 MiB, and the scale case of many 4 KiB mappings; random IOVAs. The
        // repetitions are JMH's measurement iterations.
        double[] large = millions(TranslateBenchmark.run(sizes, 16, 64 << 20));
        rows.add(Row.single("translate, 1 thread, 16 x 64 MiB mappings (software, JMH)", "M/s", "software", large,
                atLeast(20, ">= 20 M/s"), perLookup(large)));
        double[] small = millions(TranslateBenchmark.run(sizes, sizes.translateMappings(), 4096));
        rows.add(Row.single("translate, 1 thread, " + count(sizes.translateMappings()) + " x 4 KiB mappings (software, JMH)", "M/s",
                "software", small, atLeast(20, ">= 20 M/s"), perLookup(small)));
    }

    /**
     * A translate row's note: ns per lookup, JMH's loop included. Under the guest's instruction
     * clock that is the instructions a lookup runs, and 20 M/s allows 50 (docs/software-backend.md, Cost).
     */
    private static String perLookup(double[] millionsPerSecond) {
        return String.format(Locale.ROOT, "%.0f ns per lookup (median), JMH's loop included", 1e3 / Spread.of(millionsPerSecond).median());
    }

    /** Two rounds agree when every figure moved by less than this fraction. */
    private static final double STEADY = 0.03;

    private interface Round {
        double[] run() throws Exception;
    }

    /**
     * Runs {@code round} until each of its figures moved by less than {@link #STEADY} from the
     * previous round (at least two rounds; at most 3 in smoke mode, 30 otherwise); the rounds run.
     */
    private int untilSteady(Round round) throws Exception {
        int max = sizes.reps() == 1 ? 3 : 30;
        double[] last = round.run();
        for (int rounds = 2; ; rounds++) {
            double[] now = round.run();
            boolean steady = true;
            for (int i = 0; i < now.length; i++) steady &= Math.abs(now[i] - last[i]) < STEADY * last[i];
            if (steady || rounds == max) return rounds;
            last = now;
        }
    }

    private static String count(int n) {
        return n % (1 << 20) == 0 ? n / (1 << 20) + "M" : n % 1024 == 0 ? n / 1024 + "K" : String.valueOf(n);
    }

    static List<String> only(String spec) {
        if (spec == null || spec.isBlank()) return null;
        List<String> groups = Arrays.stream(spec.split(",")).map(String::strip).toList();
        for (String g : groups) {
            if (!List.of("map", "faults", "jfr", "software").contains(g)) {
                throw new IllegalArgumentException("IOMMUFD4J_BENCH_ONLY: map, faults, jfr or software, not " + g);
            }
        }
        return groups;
    }

    private boolean runs(String group) {
        return only == null || only.contains(group);
    }

    /** {@code a}, or {@code b} when {@code a} is null: a row names the first reason a baseline did not run. */
    static String first(String a, String b) {
        return a != null ? a : b;
    }

    /** 1e9 / each figure: per second into ns per operation and back. */
    private static double[] inverse(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = 1e9 / v[i];
        return r;
    }

    /** The smaller batch of the handler-alone measurement. */
    private static final int SMALL_BATCH = 16;

    /** From CPU per fault at batches of Sizes.BATCH (big) and SMALL_BATCH (small): the part per fault. */
    private static double perFault(double big, double small) {
        return big - perBatch(big, small) / Sizes.BATCH;
    }

    /** ... and the part per batch: small - big = perBatch * (1/SMALL - 1/BATCH). */
    private static double perBatch(double big, double small) {
        return (small - big) / (1.0 / SMALL_BATCH - 1.0 / Sizes.BATCH);
    }

    /** a - b, per repetition. */
    private static double[] minus(double[] a, double[] b) {
        double[] r = new double[a.length];
        for (int i = 0; i < r.length; i++) r[i] = a[i] - b[i];
        return r;
    }

    private static double[] millions(double[] v) {
        double[] r = v.clone();
        for (int i = 0; i < r.length; i++) r[i] /= 1e6;
        return r;
    }

    private static double[] nan(int n) {
        double[] r = new double[n];
        Arrays.fill(r, Double.NaN);
        return r;
    }

    /** What each step of a 4 KiB pair adds (medians over the repetitions), see {@link MapUnmapCost}. */
    private static String costNote(MapUnmapCost.Result[] cost) {
        StringBuilder b = new StringBuilder("per pair, each step added to bare FFM (medians):");
        for (int i = 0; i < MapUnmapCost.STEPS.length; i++) {
            int step = i;
            b.append(i == 0 ? " " : ", ").append(MapUnmapCost.STEPS[i]).append(String.format(Locale.ROOT, " %.0f ns",
                    median(cost, r -> r.steps()[step])));
        }
        return b.append(String.format(Locale.ROOT, "; the typed API with the buffer in an automatic arena (a bookkeeping entry per"
                + " mapping) %.0f ns more", median(cost, r -> r.apiAuto() - r.api())))
                .append(String.format(Locale.ROOT, "; bare FFM as a critical downcall (no thread-state transition, not usable"
                + " for an ioctl that may sleep) %.0f ns less than without errno capture", median(cost, r -> r.ffmNoErrno() - r.critical())))
                .toString();
    }

    private static double[] each(MapUnmapCost.Result[] r, ToDoubleFunction<MapUnmapCost.Result> f) {
        return Arrays.stream(r).mapToDouble(f).toArray();
    }

    private static double median(MapUnmapCost.Result[] r, ToDoubleFunction<MapUnmapCost.Result> f) {
        return Spread.of(each(r, f)).median();
    }
}
