package io.github.iommufd4j.bench;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import static io.github.iommufd4j.bench.Row.Target.atLeast;
import static io.github.iommufd4j.bench.Row.Target.atMost;
import static io.github.iommufd4j.bench.Row.Target.ratioAtLeast;
import static io.github.iommufd4j.bench.Row.Target.ratioAtMost;

/**
 * {@code iommufd4j bench [--smoke|--quick|--full] [--out DIR] [--c DIR]}: every benchmark in one
 * run, one table. Java runs on the backend {@code Iommufd.open()} picks (the kernel's in a guest,
 * the software one on a bare host); the C baselines run where /dev/iommu exists and are n/a
 * elsewhere. Writes bench.txt, bench.json and bench.png into DIR (default bench/target/bench).
 */
public final class Bench {
    /** Fault loads: (queues, trigger threads); several = Sizes.severalTriggers. */
    private static final int[][] LOADS = {{1, 1}, {1, 0}, {8, 1}, {8, 0}};
    private static final String[] C_STYLES = {"blocking", "uring-read", "uring-poll"};
    /** "0 bytes" per operation: less than one byte on average over the timed loop. */
    private static final Row.Target ZERO = atMost(0.99, "0 (< 1)");

    private final Sizes sizes;
    private final CBaseline c;
    private final PrintStream log;
    private final List<Row> rows = new ArrayList<>();
    private final Set<String> notes = new LinkedHashSet<>();

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
        Report report = new Bench(Sizes.of(mode), new CBaseline(cDir), System.err).run();
        report.write(out);
        System.out.print(report.text());
        System.out.println("written: " + out.resolve("bench.txt") + ", bench.json, bench.png");
    }

    Report run() throws Exception {
        long start = System.nanoTime();
        Environment env = Environment.detect();
        String backend;
        double kernelMapNs = Double.NaN;
        try (Iommufd fd = Iommufd.open()) {
            backend = fd.backend().name().toLowerCase(Locale.ROOT);
            if (!fd.mock().isPresent()) throw new IllegalStateException("no iommufd mock driver: " + fd.backendReason());
            notes.add("Java backend: " + backend + " (" + fd.backendReason() + ")");
            double ns4k = mapUnmap(fd, backend);
            if (fd.backend() == Backend.NATIVE) kernelMapNs = ns4k;
            for (int[] load : LOADS) faults(fd, backend, load[0], load[1] == 0 ? sizes.severalTriggers() : load[1]);
            jfr(fd, backend);
        }
        software(kernelMapNs);
        if (env.inGuest()) notes.add("QEMU without KVM (TCG) slows everything down: compare ratios, not absolute figures");
        return new Report(sizes.mode(), env, backend, List.copyOf(rows), List.copyOf(notes), (System.nanoTime() - start) / 1e9);
    }

    /** Java and C map+unmap of 4 KiB and 2 MiB; returns Java's ns per 4 KiB pair. */
    private double mapUnmap(Iommufd fd, String backend) throws Exception {
        double ns4k = Double.NaN;
        for (long size : new long[] {4096, 2 << 20}) {
            boolean small = size == 4096;
            String name = small ? "4 KiB" : "2 MiB";
            int pairs = small ? sizes.mapPairs4k() : sizes.mapPairs2m();
            int warmup = small ? sizes.mapWarmup() : sizes.mapWarmup() / 10;
            log.printf("bench: map+unmap %s, %d pairs, best of %d: C, Java%n", name, pairs, sizes.reps());
            double cNs = Double.POSITIVE_INFINITY;
            MapUnmap.Result j = null;
            // C and Java alternate and each keeps its best repetition: the one least disturbed by
            // whatever else runs on a shared machine. The JIT warms up in the first one only.
            for (int rep = 0; rep < sizes.reps(); rep++) {
                var cr = c.run("map_unmap", "--size", size, "--pairs", pairs, "--warmup", warmup);
                unavailable(cr);
                cNs = Math.min(cNs, cr.number("ns_per_pair"));
                var jr = MapUnmap.run(fd, size, pairs, warmup, rep == 0 ? sizes.warmupMillis() : 0);
                if (j == null || jr.nsPerPair() < j.nsPerPair()) j = jr;
            }
            rows.add(Row.pair("map+unmap " + name + ", Java vs C", "ns/pair", "Java " + backend, j.nsPerPair(),
                    "C", cNs, ratioAtMost(1.05), null));
            rows.add(Row.single("allocated per map+unmap " + name + " (Java)", "bytes/pair", "Java " + backend,
                    j.bytesPerPair(), ZERO, null));
            if (small) ns4k = j.nsPerPair();
        }
        return ns4k;
    }

    /** One fault load: the three C handler styles, the Java pump and the Java blocking loops. */
    private void faults(Iommufd fd, String backend, int queues, int triggers) throws Exception {
        String load = queues + (queues == 1 ? " queue, " : " queues, ") + triggers + (triggers == 1 ? " trigger" : " triggers");
        log.printf("bench: faults, %s, %d faults, best of %d: C %s, Java pump (read(2); ring reads on the kernel), Java blocking%n", load, sizes.faults(),
                sizes.reps(), String.join(", ", C_STYLES));
        double[] cFps = {Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY};
        FaultLoad.Result pump = null, blocking = null, ring = null;
        boolean kernel = fd.backend() == io.github.iommufd4j.Backend.NATIVE; // RING needs the kernel's fds
        for (int rep = 0; rep < sizes.reps(); rep++) { // alternating, best of each (as for map+unmap)
            for (int i = 0; i < C_STYLES.length; i++) {
                var r = c.run("faults", "--mode", C_STYLES[i], "--queues", queues, "--triggers", triggers,
                        "--faults", sizes.faults(), "--batch", Sizes.BATCH, "--window", Sizes.WINDOW);
                unavailable(r);
                cFps[i] = Math.max(cFps[i], r.number("faults_per_s"));
            }
            int warm = rep == 0 ? sizes.warmupMillis() : 0;
            var p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, queues, triggers, sizes.faults(), warm);
            if (pump == null || p.faultsPerSecond() > pump.faultsPerSecond()) pump = p;
            if (kernel) {
                var r = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP_RING, queues, triggers, sizes.faults(), warm);
                if (ring == null || r.faultsPerSecond() > ring.faultsPerSecond()) ring = r;
            }
            var b = FaultLoad.run(fd.backend(), FaultLoad.Style.BLOCKING, queues, triggers, sizes.faults(), warm);
            if (blocking == null || b.faultsPerSecond() > blocking.faultsPerSecond()) blocking = b;
        }
        int best = -1;
        for (int i = 0; i < C_STYLES.length; i++) {
            if (!Double.isNaN(cFps[i]) && (best < 0 || cFps[i] > cFps[best])) best = i;
        }
        String javaPump = "Java " + backend + " pump";
        rows.add(Row.pair("faults, " + load + ": Java pump vs best C", "ns/fault", javaPump, 1e9 / pump.faultsPerSecond(),
                "C " + (best < 0 ? "best" : C_STYLES[best]), best < 0 ? Double.NaN : 1e9 / cFps[best], ratioAtMost(1.05), null));
        if (ring != null) {
            rows.add(Row.pair("faults, " + load + ": Java pump, ring reads vs read(2)", "ns/fault", javaPump + " (ring reads)",
                    1e9 / ring.faultsPerSecond(), javaPump, 1e9 / pump.faultsPerSecond(), null, null));
        }
        rows.add(Row.pair("faults, " + load + ": Java blocking vs C blocking", "ns/fault", "Java " + backend + " blocking",
                1e9 / blocking.faultsPerSecond(), "C blocking", 1e9 / cFps[0], null, null));
        if (queues > 1) {
            rows.add(Row.pair("faults, " + load + ": 1 Java pump thread vs " + queues + " C blocking", "faults/s", javaPump,
                    pump.faultsPerSecond(), "C blocking x" + queues, cFps[0], ratioAtLeast(0.9), null));
        }
        if (triggers == 1) {
            for (int i = 1; i < C_STYLES.length; i++) {
                rows.add(Row.pair("faults, " + load + ": C " + C_STYLES[i] + " vs C blocking", "ns/fault", "C " + C_STYLES[i],
                        1e9 / cFps[i], "C blocking", 1e9 / cFps[0], null, null));
            }
        }
        if (queues == 1 && triggers == 1 || queues > 1 && triggers > 1) {
            rows.add(Row.single("allocated per fault, Java pump, " + load, "bytes/fault", javaPump, pump.bytesPerFault(), ZERO, null));
            rows.add(Row.single("allocated per fault, Java blocking, " + load, "bytes/fault", "Java " + backend + " blocking",
                    blocking.bytesPerFault(), ZERO, null));
        }
    }

    /**
     * JFR off against a recording of the library's events ({@link JfrCost}): map+unmap of 4 KiB and
     * the pump with 1 queue and 1 trigger, time and bytes allocated, alternating, best of each.
     */
    private void jfr(Iommufd fd, String backend) throws Exception {
        log.printf("bench: JFR off vs a recording of the library's events: map+unmap 4 KiB, faults (1 queue, 1 trigger), best of %d%n",
                sizes.reps());
        MapUnmap.Result mapOff = null, mapOn = null;
        FaultLoad.Result pumpOff = null, pumpOn = null;
        long events = 0;
        for (int rep = 0; rep < sizes.reps(); rep++) {
            int warm = rep == 0 ? sizes.warmupMillis() : 0;
            var m = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm);
            if (mapOff == null || m.nsPerPair() < mapOff.nsPerPair()) mapOff = m;
            var p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, sizes.faults(), warm);
            if (pumpOff == null || p.faultsPerSecond() > pumpOff.faultsPerSecond()) pumpOff = p;
            JfrCost recording = new JfrCost();
            try (recording) {
                m = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm);
                p = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, sizes.faults(), warm);
            }
            events = recording.events();
            if (mapOn == null || m.nsPerPair() < mapOn.nsPerPair()) mapOn = m;
            if (pumpOn == null || p.faultsPerSecond() > pumpOn.faultsPerSecond()) pumpOn = p;
        }
        String on = "Java " + backend + ", JFR on", off = "JFR off";
        String note = events + " events of the library in the last recording";
        rows.add(Row.pair("map+unmap 4 KiB: JFR recording vs off", "ns/pair", on, mapOn.nsPerPair(), off, mapOff.nsPerPair(), null, note));
        rows.add(Row.pair("allocated per map+unmap 4 KiB: JFR recording vs off", "bytes/pair", on, mapOn.bytesPerPair(), off,
                mapOff.bytesPerPair(), null, null));
        rows.add(Row.pair("faults, 1 queue, 1 trigger: Java pump, JFR recording vs off", "faults/s", on, pumpOn.faultsPerSecond(), off,
                pumpOff.faultsPerSecond(), null, null));
        rows.add(Row.pair("allocated per fault, Java pump: JFR recording vs off", "bytes/fault", on, pumpOn.bytesPerFault(), off,
                pumpOff.bytesPerFault(), null, null));
    }

    /** The software backend: map/unmap against the kernel mock, heap at scale, translate (JMH). */
    private void software(double kernelMapNs) throws Exception {
        log.printf("bench: software backend: map+unmap, %d mappings, translate (JMH)%n", sizes.scaleMappings());
        MapUnmap.Result sw = null, bare = null;
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            for (int rep = 0; rep < sizes.reps(); rep++) {
                int warm = rep == 0 ? sizes.warmupMillis() : 0;
                var r = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm, true);
                if (sw == null || r.nsPerPair() < sw.nsPerPair()) sw = r;
                r = MapUnmap.run(fd, 4096, sizes.mapPairs4k(), sizes.mapWarmup(), warm, false);
                if (bare == null || r.nsPerPair() < bare.nsPerPair()) bare = r;
            }
        }
        // With a domain every map tests the pin as the kernel pins: one madvise(2) per map (docs/software-backend.md).
        String pinCost = String.format(Locale.ROOT, "of %.0f ns per pair, %.0f ns are the pin test (vs no domain)", sw.nsPerPair(),
                sw.nsPerPair() - bare.nsPerPair());
        rows.add(Row.pair("map+unmap 4 KiB, software vs kernel mock", "ops/s", "software", 1e9 / sw.nsPerPair(),
                "kernel mock", 1e9 / kernelMapNs, ratioAtLeast(5), pinCost));
        rows.add(Row.single("map+unmap 4 KiB, software, no domain (nothing pinned)", "M pairs/s", "software", 1e3 / bare.nsPerPair(),
                atLeast(5, ">= 5 M/s"), null));
        rows.add(Row.single("allocated per map+unmap 4 KiB (software, mock domain)", "bytes/pair", "software", sw.bytesPerPair(), ZERO, null));
        var scale = SoftwareScale.run(sizes.scaleMappings());
        double perMillion = scale.heapMiB() * 1_000_000.0 / scale.mappings();
        rows.add(Row.single("heap for 1M 4 KiB mappings (software)", "MiB", "software", perMillion, atMost(128, "<= 128 MiB"),
                scale.mappings() == 1_000_000 ? String.format(Locale.ROOT, "%.0f ns per map", scale.nsPerMap())
                        : String.format(Locale.ROOT, "extrapolated from %d mappings (%.2f MiB)", scale.mappings(), scale.heapMiB())));
        // Guest RAM as 16 x 64 MiB, and the scale case of many 4 KiB mappings; random IOVAs.
        rows.add(Row.single("translate, 1 thread, 16 x 64 MiB mappings (software, JMH)", "M/s", "software",
                TranslateBenchmark.run(sizes, 16, 64 << 20) / 1e6, atLeast(20, ">= 20 M/s"), null));
        rows.add(Row.single("translate, 1 thread, " + count(sizes.translateMappings()) + " x 4 KiB mappings (software, JMH)", "M/s",
                "software", TranslateBenchmark.run(sizes, sizes.translateMappings(), 4096) / 1e6, atLeast(20, ">= 20 M/s"), null));
    }

    private static String count(int n) {
        return n % (1 << 20) == 0 ? n / (1 << 20) + "M" : n % 1024 == 0 ? n / 1024 + "K" : String.valueOf(n);
    }

    private void unavailable(CBaseline.Outcome r) {
        if (r.unavailable() != null) notes.add("C baselines not run: " + r.unavailable());
    }
}
