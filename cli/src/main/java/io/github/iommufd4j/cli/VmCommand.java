package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code iommufd4j vm COMMAND}: the same command inside a QEMU guest whose kernel has iommufd
 * and its mock driver (mock profile; the guest's root is this host's, read-only). Checks this
 * host first and installs nothing unless {@code --install} is given.
 */
@Command(name = "vm", sortOptions = false,
        subcommands = {InfoCommand.class, DemoCommand.class, FaultModesCommand.class, BenchCommand.class},
        description = {"Runs a command inside a QEMU guest with the kernel's iommufd (native backend): the guest kernel "
                + "is built and cached on first use (about 10 minutes), the guest boots in about a minute under TCG.",
                "Needs QEMU 10 and the kernel build tools: without --install it only says what is missing and how to "
                        + "install it."})
final class VmCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--kernel", paramLabel = "7.3|6.12", defaultValue = "7.3", scope = ScopeType.INHERIT,
            converter = Main.SoftwareKernel.class, description = "the guest's Linux release (default ${DEFAULT-VALUE})")
    String kernel;

    @Option(names = "--install", scope = ScopeType.INHERIT,
            description = "install what is missing (QEMU 10 from bookworm-backports, kernel build tools; needs root)")
    boolean install;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "a command to run in the guest is missing (info, demo, fault-modes, bench)");
    }

    /** Whether {@code leaf} was given under {@code vm}. */
    static boolean inGuest(CommandSpec leaf) {
        return leaf.parent() != null && leaf.parent().userObject() instanceof VmCommand;
    }

    /** Runs {@code leaf} (a command under vm, its options parsed) in a guest; its exit status. */
    static int runInGuest(CommandSpec leaf) throws IOException, InterruptedException {
        return ((VmCommand) leaf.parent().userObject()).run(leaf);
    }

    private int run(CommandSpec leaf) throws IOException, InterruptedException {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Path home = Main.home();
        String name = "iommufd4j vm";
        if (install) {
            err.println(name + ": installing what the guest needs and this host lacks (QEMU 10, kernel build tools)...");
            if (new ProcessBuilder("bash", home.resolve("vm-tests/setup-host.sh").toString()).inheritIO().start().waitFor() != 0) {
                return 1;
            }
        } else {
            // The kernel build tools are needed only when the guest kernel is not cached yet.
            boolean cached = exec(home, "vm-tests/kernel/build-kernel.sh", "--cached", kernel) == 0;
            if (exec(home, "vm-tests/setup-host.sh", "--check", cached ? "qemu" : "all") != 0) {
                err.println(name + ": or let this command do it: add --install (as root)");
                return 1;
            }
        }
        err.println(name + ": guest kernel " + kernel + " (built and cached on first use, about 10 minutes)...");
        Path bzImage = buildKernel(home, kernel);
        if (bzImage == null) return 1;

        boolean bench = leaf.userObject() instanceof BenchCommand;
        Path work = bench ? home.resolve("bench/target/vm-" + kernel) : home.resolve("cli/target/vm");
        Path results = work.resolve("results");
        Files.createDirectories(results);
        // The guest sees this host's / read-only, the results share at the same path, writable.
        List<String> command = bench ? ((BenchCommand) leaf.userObject()).command(home, results.resolve("bench"))
                : cliCommand(home, guestArgs(leaf));
        Path script = work.resolve("guest-cmd.sh");
        StringBuilder sb = new StringBuilder("#!/usr/bin/env bash\nexec");
        for (String word : command) sb.append(' ').append(shellQuote(word));
        Files.writeString(script, sb.append('\n').toString());
        script.toFile().setExecutable(true);

        List<String> runVm = new ArrayList<>(List.of("bash", home.resolve("vm-tests/guest/run-vm.sh").toString(),
                "--kernel", bzImage.toString(), "--profile", "mock", "--results", results.toString(),
                "--cmd", script.toString(), "--timeout", bench ? "3600" : "900"));
        ProcessBuilder qemu = new ProcessBuilder(runVm).inheritIO();
        if (bench) {
            runVm.addAll(List.of("--env", "IOMMUFD4J_QEMU=" + qemuVersion())); // the accelerator: run-vm.sh's accel
            String icount = BenchCommand.icount(System.getenv());
            if (icount != null) {
                qemu.environment().put("IOMMUFD4J_VM_ICOUNT", icount);
                runVm.addAll(List.of("--env", "IOMMUFD4J_BENCH_CLOCK=instructions (QEMU icount " + icount + ")"));
            } else {
                qemu.environment().remove("IOMMUFD4J_VM_ICOUNT");
            }
            String only = System.getenv("IOMMUFD4J_BENCH_ONLY");
            if (only != null && !only.isBlank()) runVm.addAll(List.of("--env", "IOMMUFD4J_BENCH_ONLY=" + only));
        }
        err.println(name + ": booting the guest (QEMU, mock profile)...");
        err.flush();
        Files.deleteIfExists(results.resolve("bench/bench.properties")); // only this run's table is recorded
        var load = new ResultsEntry.HostLoad(1);
        int rc = load.during(qemu.command(runVm));
        Path log = results.resolve("cmd.log");
        if (Files.exists(log)) out.print(Files.readString(log));
        out.flush();
        if (!bench) return rc;
        err.println(name + ": table, JSON and chart in " + results.resolve("bench"));
        // The guest wrote its table into the results share; this host appends it to bench/RESULTS.md.
        Path accel = results.resolve("accel");
        String mode = ResultsEntry.qemuMode(Files.exists(accel) ? Files.readString(accel) : null);
        ((BenchCommand) leaf.userObject()).record(home, results.resolve("bench"), mode, load, err);
        return rc == 0 ? 0 : 1;
    }

    /** The options given to {@code leaf} as the guest gets them, with the global ones. */
    static List<String> guestArgs(CommandSpec leaf) {
        List<String> args = new ArrayList<>();
        String backend = System.getProperty(Iommufd.BACKEND_PROPERTY);
        String kernel = System.getProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY);
        if (backend != null) args.addAll(List.of("--backend", backend));
        if (kernel != null) args.addAll(List.of("--software-kernel", kernel));
        args.add(leaf.name());
        for (OptionSpec o : leaf.commandLine().getParseResult().matchedOptions()) {
            if (o.scopeType() == ScopeType.INHERIT || o.usageHelp() || o.versionHelp()) continue;
            if (o.arity().max() == 0) args.add(o.longestName()); // a flag
            else for (String v : o.originalStringValues()) args.addAll(List.of(o.longestName(), v));
        }
        return args;
    }

    /** This command, run with the same JDK and jars (the guest sees them at the same paths). */
    static List<String> cliCommand(Path home, List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(javaExecutable(),
                "--enable-native-access=io.github.iommufd4j.bindings,io.github.iommufd4j.api",
                "-Diommufd4j.home=" + home,
                "-p", home.resolve("cli/target/iommufd4j-cli-" + Main.version() + ".jar") + ":" + home.resolve("cli/target/lib"),
                "-m", "io.github.iommufd4j.cli/io.github.iommufd4j.cli.Main"));
        cmd.addAll(args);
        return cmd;
    }

    static String javaExecutable() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** The bzImage (build-kernel.sh prints its path last; its progress goes to stderr), or null. */
    private static Path buildKernel(Path home, String version) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", home.resolve("vm-tests/kernel/build-kernel.sh").toString(), version)
                .redirectError(ProcessBuilder.Redirect.INHERIT).redirectInput(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            for (String line; (line = r.readLine()) != null; ) last = line;
        }
        if (p.waitFor() != 0 || last == null || !Files.isRegularFile(Path.of(last.trim()))) return null;
        return Path.of(last.trim());
    }

    /** Runs a script of the project; its stderr is shown, its stdout is not. */
    private static int exec(Path home, String script, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", home.resolve(script).toString()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start().waitFor();
    }

    private static String qemuVersion() {
        try {
            Process p = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
            String first = new String(p.getInputStream().readAllBytes()).lines().findFirst().orElse("unknown");
            p.waitFor();
            return first;
        } catch (IOException | InterruptedException e) {
            return "unknown";
        }
    }

    /** {@code s} as one bash word. */
    static String shellQuote(String s) {
        return s.matches("[A-Za-z0-9_@%+=:,./-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
