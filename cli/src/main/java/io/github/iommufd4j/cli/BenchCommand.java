package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code iommufd4j bench}: the benchmark table of module bench/, run in a JVM of its own (JMH
 * and the benchmarks are on its class path, built by ./iommufd4j on first use).
 */
@Command(name = "bench", sortOptions = false,
        description = {"The benchmark table: Java against the C baselines, io_uring against blocking, the software backend "
                + "against the kernel; writes bench.txt, bench.json and bench.png.",
                "Each figure is the median of the run's repetitions, with their spread. Appends the table to "
                        + "bench/RESULTS.md (not with --smoke).",
                "C figures need /dev/iommu (`iommufd4j vm bench`); on a bare host they are n/a. Exit 1 when the benchmarks "
                        + "could not run or a baseline could not run (the table's notes say which row and why; on a bare host the C "
                        + "baselines and the kernel mock)."})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true)
    Size size;

    /** How long: one of the three. */
    static final class Size {
        @Option(names = "--smoke", description = "every benchmark once, tiny (about 10 s; what the tests run)")
        boolean smoke;
        @Option(names = "--quick", description = "the default: about 1.5 minutes on 2 cores, 5 in a TCG guest")
        boolean quick;
        @Option(names = "--full", description = "more repetitions and larger counts")
        boolean full;
    }

    @Option(names = "--warmup", description = "instead of the table: the cost of fresh JVMs' first map+unmap pairs and faults "
            + "against C, plain and from an AOT cache recorded by a previous run (warmup.txt; about half an hour in a TCG guest)")
    boolean warmup;

    @Option(names = "--out", paramLabel = "DIR", description = "where the table goes (default bench/target/bench)")
    Path out;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (VmCommand.inGuest(spec)) return VmCommand.runInGuest(spec);
        Path home = Main.home();
        Path dir = out != null ? out.toAbsolutePath() : home.resolve("bench/target/bench");
        List<String> cmd = command(home, dir);
        Files.deleteIfExists(dir.resolve("bench.properties")); // only this run's table is recorded
        var load = new ResultsEntry.HostLoad(0);
        int rc = load.during(new ProcessBuilder(cmd).inheritIO());
        record(home, dir, "host", load, spec.commandLine().getErr());
        return rc == 0 ? 0 : 1;
    }

    /**
     * Appends the run in {@code dir} to bench/RESULTS.md in the working tree, unless it was a smoke
     * run (no figures worth keeping) or wrote no table (it failed before).
     */
    void record(Path home, Path dir, String qemuMode, ResultsEntry.HostLoad load, PrintWriter err) throws IOException {
        if (size != null && size.smoke || warmup) return;
        String only = System.getenv("IOMMUFD4J_BENCH_ONLY");
        if (only != null && !only.isBlank()) {
            err.println("iommufd4j bench: IOMMUFD4J_BENCH_ONLY=" + only + ": a partial table, not appended to bench/RESULTS.md");
            return;
        }
        if (!Files.isRegularFile(dir.resolve("bench.properties"))) {
            err.println("iommufd4j bench: no table in " + dir + ": nothing appended to bench/RESULTS.md");
            return;
        }
        Path results = home.resolve("bench/RESULTS.md");
        ResultsEntry.read(dir, home, qemuMode, load.describe(), Instant.now()).appendTo(results);
        err.println("iommufd4j bench: appended to " + results);
    }

    /** QEMU's instruction counting for {@code vm bench} unless IOMMUFD4J_VM_ICOUNT says otherwise. */
    static final String ICOUNT = "shift=0,sleep=off";

    /**
     * The {@code -icount} options of a bench guest: {@link #ICOUNT} by default, the value of
     * IOMMUFD4J_VM_ICOUNT when set, none when that is "off" or KVM was asked for (KVM cannot count).
     * With it the guest's clock advances by one nanosecond per instruction the vCPUs run, so the
     * table's times count instructions: ratios no longer move with the host's load or TCG's speed.
     */
    static String icount(Map<String, String> env) {
        String v = env.get("IOMMUFD4J_VM_ICOUNT");
        if ("kvm".equals(env.get("IOMMUFD4J_VM_ACCEL")) || "multi".equals(env.get("IOMMUFD4J_VM_TCG_THREAD"))) return null;
        if (v == null || v.isBlank()) return ICOUNT;
        return v.equals("off") ? null : v;
    }

    /** The benchmark JVM's command line, writing into {@code outDir}. */
    List<String> command(Path home, Path outDir) throws IOException {
        return command(home, outDir, System.getenv());
    }

    /** As {@link #command(Path, Path)}, with {@code env} for the environment. */
    List<String> command(Path home, Path outDir, Map<String, String> env) throws IOException {
        Path target = home.resolve("bench/target");
        Path jar = target.resolve("iommufd4j-bench-" + Main.version() + ".jar");
        Path classpath = target.resolve("classpath.txt");
        if (!Files.isRegularFile(jar) || !Files.isRegularFile(classpath)) {
            throw new IllegalStateException("the benchmarks are not built (" + jar + "): ./iommufd4j bench builds them, "
                    + "or mvn -B package -DskipTests -pl bench -am");
        }
        List<String> cmd = new ArrayList<>(List.of(VmCommand.javaExecutable(), "--enable-native-access=ALL-UNNAMED",
                "-Diommufd4j.bench.c=" + target.resolve("c")));
        // The warm-up runs' parent only starts fresh JVMs and waits: interpreted, no JIT of its own runs beside them.
        if (warmup) cmd.addAll(List.of("-Xint", "-XX:+UseSerialGC"));
        for (String p : List.of(Iommufd.BACKEND_PROPERTY, Iommufd.SOFTWARE_KERNEL_PROPERTY)) {
            if (System.getProperty(p) != null) cmd.add("-D" + p + "=" + System.getProperty(p));
        }
        cmd.addAll(List.of("-cp", jar + ":" + Files.readString(classpath).trim()));
        if (warmup) {
            cmd.addAll(List.of("io.github.iommufd4j.bench.WarmupRuns", "--out", outDir.toString()));
            if (size != null && size.smoke) cmd.add("--smoke");
            // More fresh-JVM variants to compare, "NAME=FLAGS;NAME=FLAGS" (see WarmupRuns).
            String also = env.get("IOMMUFD4J_WARMUP_ALSO");
            if (also != null) for (String v : also.split(";")) if (v.contains("=")) cmd.addAll(List.of("--also", v.trim()));
        } else {
            cmd.addAll(List.of("io.github.iommufd4j.bench.Bench", size == null || size.quick ? "--quick" : size.smoke ? "--smoke" : "--full",
                    "--out", outDir.toString()));
        }
        return cmd;
    }
}
