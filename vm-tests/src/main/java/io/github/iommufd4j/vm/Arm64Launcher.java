package io.github.iommufd4j.vm;

import io.github.iommufd4j.junit.VmLauncher;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the arm64 guest through {@code vm-tests/arm64/run-vm-arm64.sh}: QEMU's virt machine with
 * its SMMUv3 in nested mode, the edu device, a cross-built Linux 7.3 ({@link #kernel}) and a
 * Debian trixie arm64 root file system with JDK 25 ({@link #rootfs}). The guest runs the JDK of
 * its root file system: the {@code JAVA} of a spec's environment is replaced by it. The machine
 * is always that one: a spec's {@link VmLauncher.Spec#profile() profile} (an x86 machine) is
 * ignored, and the guest sees the profile name {@code smmuv3}. run-vm-arm64.sh shows the guest
 * the host directories that the spec's script, results directory and {@code TEST_CLASSPATH}
 * lie in, so a checkout and a Maven repository anywhere work.
 */
public final class Arm64Launcher implements VmLauncher {
    /** The JDK in the guest's root file system. */
    public static final String GUEST_JAVA = "/usr/local/bin/java";
    private final Path dir;
    private final boolean canwbs;

    /**
     * A launcher for the scripts of {@code vmTestsDir/arm64}.
     *
     * @param vmTestsDir the vm-tests directory
     * @param canwbs     whether the guest kernel gets the test-only boot option
     *                   {@code arm_smmu_v3.test_assume_canwbs=1} (without it the driver refuses
     *                   vIOMMUs, as on QEMU it must)
     */
    public Arm64Launcher(Path vmTestsDir, boolean canwbs) {
        this.dir = vmTestsDir.resolve("arm64").toAbsolutePath();
        this.canwbs = canwbs;
    }

    @Override
    public String unavailableReason() {
        if (!onPath("qemu-system-aarch64")) return "qemu-system-aarch64 is not installed (vm-tests/arm64/setup-arm64.sh installs it)";
        if (script("build-kernel-arm64.sh", "--cached") == null && !onPath("aarch64-linux-gnu-gcc")) {
            return "no cached arm64 guest kernel and no cross compiler (vm-tests/arm64/setup-arm64.sh installs gcc-aarch64-linux-gnu)";
        }
        if (script("rootfs-arm64.sh", "--cached") == null && !onPath("debootstrap")) {
            return "no cached arm64 root file system and no debootstrap (vm-tests/arm64/setup-arm64.sh installs it)";
        }
        return null;
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) return true;
        }
        return false;
    }

    /** Runs a script of the arm64 directory; its stdout's last line, or null when it failed. */
    private String script(String name, String... args) {
        List<String> cmd = new ArrayList<>(List.of("bash", dir.resolve(name).toString()));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String last = null;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                for (String line; (line = r.readLine()) != null; ) last = line.trim();
            }
            return p.waitFor() == 0 && last != null && Files.exists(Path.of(last)) ? last : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * The arm64 guest kernel (Linux 7.3 with the test-only SMMUv3 option), cross-built and cached
     * by {@code build-kernel-arm64.sh}; progress goes to stderr.
     *
     * @return the Image
     * @throws IOException when it cannot be built
     */
    public Path kernel() throws IOException {
        String k = script("build-kernel-arm64.sh");
        if (k == null) throw new IOException("building the arm64 guest kernel failed; see the output above");
        return Path.of(k);
    }

    /**
     * The trixie arm64 root file system with JDK 25, built and cached by {@code rootfs-arm64.sh}.
     *
     * @return its directory
     * @throws IOException when it cannot be built
     */
    public Path rootfs() throws IOException {
        String r = script("rootfs-arm64.sh");
        if (r == null) throw new IOException("building the arm64 root file system failed; see the output above");
        return Path.of(r);
    }

    @Override
    public Result run(Spec spec) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", dir.resolve("run-vm-arm64.sh").toString(),
                "--kernel", spec.kernel().toString(), "--rootfs", rootfs().toString(),
                "--results", spec.results().toAbsolutePath().toString(), "--cmd", spec.script().toAbsolutePath().toString(),
                "--timeout", Long.toString(spec.timeout().toSeconds())));
        if (!canwbs) cmd.add("--no-canwbs");
        spec.env().forEach((k, v) -> {
            cmd.add("--env");
            cmd.add(k + "=" + (k.equals("JAVA") ? GUEST_JAVA : v));
        });
        return VmLauncher.runScript(cmd, spec);
    }
}
