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
     */
    record Spec(Path kernel, Profile profile, Path script, Map<String, String> env, Path results, Duration timeout,
                List<String> options) {
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

    /** The guest command's exit code (124 timeout, 125 no report), its console and wall time. */
    record Result(int exitCode, Path console, Duration wallTime) {
        public boolean passed() {
            return exitCode == 0;
        }
    }

    /** Whether this launcher can run here; a reason when not (used to skip tests). */
    String unavailableReason();

    Result run(Spec spec) throws IOException, InterruptedException;
}
