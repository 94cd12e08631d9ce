package io.github.iommufd4j.junit;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Boots a guest with a real iommufd and runs one command in it. Implemented by the direct QEMU
 * launcher ({@link QemuLauncher}) and the container launcher ({@link ContainerLauncher}).
 */
public interface VmLauncher {

    /**
     * What to run: a guest kernel, a profile, a script (an absolute host path, visible at the
     * same path in the guest, whose root is the host's / shared read-only), its environment and
     * a results directory shared writable with the guest; further run-vm.sh options (memory,
     * CPUs, PCI devices for vfio-pci, QEMU arguments).
     *
     * @param kernel  the bzImage
     * @param profile the machine
     * @param script  the command the guest runs
     * @param env     its environment
     * @param results the directory shared writable with the guest
     * @param timeout the run's limit
     * @param options further run-vm.sh options
     */
    record Spec(Path kernel, Profile profile, Path script, Map<String, String> env, Path results, Duration timeout,
                List<String> options) {
        /**
         * A spec without further options.
         *
         * @param kernel  the bzImage
         * @param profile the machine
         * @param script  the command the guest runs
         * @param env     its environment
         * @param results the directory shared writable with the guest
         * @param timeout the run's limit
         */
        public Spec(Path kernel, Profile profile, Path script, Map<String, String> env, Path results, Duration timeout) {
            this(kernel, profile, script, env, results, timeout, List.of());
        }

        /** run-vm.sh's command line for this spec. */
        List<String> command(Path runVm) {
            List<String> cmd = new java.util.ArrayList<>(List.of("bash", runVm.toString(),
                    "--kernel", kernel.toAbsolutePath().toString(), "--profile", profile.scriptName(),
                    "--results", results.toAbsolutePath().toString(), "--cmd", script.toAbsolutePath().toString(),
                    "--timeout", Long.toString(timeout.toSeconds())));
            env.forEach((k, v) -> {
                cmd.add("--env");
                cmd.add(k + "=" + v);
            });
            cmd.addAll(options);
            return cmd;
        }
    }

    /**
     * What a run did.
     *
     * @param exitCode the guest command's exit code (124 timeout, 125 no report)
     * @param console  the guest's console log
     * @param wallTime the run's wall time
     */
    record Result(int exitCode, Path console, Duration wallTime) {
        /**
         * Returns whether the guest command exited with 0.
         *
         * @return whether the guest command exited with 0
         */
        public boolean passed() {
            return exitCode == 0;
        }
    }

    /**
     * Returns null when this launcher can run here, otherwise why not (to skip with).
     *
     * @return null when this launcher can run here, otherwise why not (to skip with)
     */
    String unavailableReason();

    /**
     * Boots the guest and waits for it.
     *
     * @param spec what to run
     * @return what it did
     * @throws IOException          if the guest cannot be started
     * @throws InterruptedException if interrupted while the guest runs (it is stopped)
     */
    Result run(Spec spec) throws IOException, InterruptedException;

    /**
     * Runs a launcher script (e.g. run-vm.sh) for {@code spec}, its output to {@code run-vm.log}
     * in the results, and stops it (SIGTERM, on which the scripts stop QEMU) when the time limit
     * passes, when the wait is interrupted, or when this JVM ends first: no guest outlives the
     * build that started it.
     *
     * @param cmd  the script and its arguments
     * @param spec what runs, where its results go and how long it may take
     * @return the script's exit code (124 when it was stopped at the time limit), the console log
     *         and the wall time
     * @throws IOException          if the script cannot be started
     * @throws InterruptedException if interrupted while it runs (it is stopped)
     */
    static Result runScript(java.util.List<String> cmd, Spec spec) throws IOException, InterruptedException {
        java.nio.file.Files.createDirectories(spec.results());
        Path log = spec.results().resolve("run-vm.log");
        Path console = spec.results().resolve("console.log");
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Thread stop = new Thread(p::destroy);
        Runtime.getRuntime().addShutdownHook(stop);
        try {
            if (!p.waitFor(spec.timeout().toSeconds() + 60, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(124, console, Duration.ofNanos(System.nanoTime() - start));
            }
        } catch (InterruptedException e) {
            p.destroy();
            throw e;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stop);
            } catch (IllegalStateException shuttingDown) {
                // the hook stops it
            }
        }
        return new Result(p.exitValue(), console, Duration.ofNanos(System.nanoTime() - start));
    }
}
