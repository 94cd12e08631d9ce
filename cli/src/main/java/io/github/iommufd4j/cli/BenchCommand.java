package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code iommufd4j bench}: the benchmark table of module bench/, run in a JVM of its own (JMH
 * and the benchmarks are on its class path, built by ./iommufd4j on first use).
 */
@Command(name = "bench", sortOptions = false,
        description = {"The benchmark table: Java against the C baselines, io_uring against blocking, the software backend "
                + "against the kernel; writes bench.txt, bench.json and bench.png.",
                "C figures need /dev/iommu (`iommufd4j vm bench`); on a bare host they are n/a. Exit 1 when the benchmarks "
                        + "could not run."})
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

    @Option(names = "--out", paramLabel = "DIR", description = "where the table goes (default bench/target/bench)")
    Path out;

    @Override
    public Integer call() throws IOException, InterruptedException {
        if (VmCommand.inGuest(spec)) return VmCommand.runInGuest(spec);
        Path home = Main.home();
        List<String> cmd = command(home, out != null ? out.toAbsolutePath() : home.resolve("bench/target/bench"));
        return new ProcessBuilder(cmd).inheritIO().start().waitFor() == 0 ? 0 : 1;
    }

    /** The benchmark JVM's command line, writing into {@code outDir}. */
    List<String> command(Path home, Path outDir) throws IOException {
        Path target = home.resolve("bench/target");
        Path jar = target.resolve("iommufd4j-bench-" + Main.version() + ".jar");
        Path classpath = target.resolve("classpath.txt");
        if (!Files.isRegularFile(jar) || !Files.isRegularFile(classpath)) {
            throw new IllegalStateException("the benchmarks are not built (" + jar + "): ./iommufd4j bench builds them, "
                    + "or mvn -B package -DskipTests -pl bench -am");
        }
        List<String> cmd = new ArrayList<>(List.of(VmCommand.javaExecutable(), "--enable-native-access=ALL-UNNAMED",
                "-Diommufd4j.bench.c=" + target.resolve("c")));
        for (String p : List.of(Iommufd.BACKEND_PROPERTY, Iommufd.SOFTWARE_KERNEL_PROPERTY)) {
            if (System.getProperty(p) != null) cmd.add("-D" + p + "=" + System.getProperty(p));
        }
        cmd.addAll(List.of("-cp", jar + ":" + Files.readString(classpath).trim(), "io.github.iommufd4j.bench.Bench",
                size == null || size.quick ? "--quick" : size.smoke ? "--smoke" : "--full", "--out", outDir.toString()));
        return cmd;
    }
}
