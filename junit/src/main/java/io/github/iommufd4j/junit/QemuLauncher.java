package io.github.iommufd4j.junit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Runs QEMU directly on this host through run-vm.sh (see {@link GuestScripts}). */
public final class QemuLauncher implements VmLauncher {
    private final Path runVm;

    /**
     * Creates one.
     *
     * @param scriptsDir where run-vm.sh is ({@link GuestScripts#dir()})
     */
    public QemuLauncher(Path scriptsDir) {
        this.runVm = scriptsDir.resolve("run-vm.sh").toAbsolutePath();
    }

    @Override
    public String unavailableReason() {
        return unavailableReason(System.getenv().getOrDefault("PATH", "/usr/bin"));
    }

    /** The same for a given search path. */
    String unavailableReason(String path) {
        if (!Files.isRegularFile(runVm)) return "no " + runVm;
        for (String dir : path.split(":")) {
            if (Files.isExecutable(Path.of(dir, "qemu-system-x86_64"))) return null;
        }
        return "qemu-system-x86_64 is not installed (QEMU 10 or newer; install it with:  sudo "
                + runVm.resolveSibling("setup-host.sh") + ")";
    }

    @Override
    public Result run(Spec spec) throws IOException, InterruptedException {
        return VmLauncher.runScript(spec.command(runVm), spec);
    }
}
