package io.github.iommufd4j.junit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

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
        List<String> cmd = spec.command(runVm);
        Files.createDirectories(spec.results());
        Path log = spec.results().resolve("run-vm.log");
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        // run-vm.sh stops QEMU on SIGTERM: sent when this JVM ends or the wait is interrupted.
        Thread stop = new Thread(p::destroy);
        Runtime.getRuntime().addShutdownHook(stop);
        try {
            if (!p.waitFor(spec.timeout().toSeconds() + 60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(124, spec.results().resolve("console.log"), Duration.ofNanos(System.nanoTime() - start));
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
        return new Result(p.exitValue(), spec.results().resolve("console.log"), Duration.ofNanos(System.nanoTime() - start));
    }
}
