package io.github.iommufd4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the figures were measured: kernel (its release, as {@code uname -r}), CPU model, QEMU (the
 * host passes its version into the guest; a guest without it is recognised by its DMI vendor),
 * JDK, CPUs.
 */
record Environment(String kernel, String release, String cpuModel, String qemu, String jdk, int cpus) {

    static Environment detect() {
        String qemu = System.getenv("IOMMUFD4J_QEMU");
        if (qemu == null || qemu.isBlank()) {
            qemu = dmiVendor().contains("QEMU") ? "QEMU (version not passed in)" : "none (bare host)";
        }
        return new Environment(System.getProperty("os.name") + " " + System.getProperty("os.version"), System.getProperty("os.version"),
                readCpuModel(), qemu, System.getProperty("java.vm.name") + " " + Runtime.version(), Runtime.getRuntime().availableProcessors());
    }

    boolean inGuest() {
        return !qemu.startsWith("none");
    }

    /** The first "model name" of /proc/cpuinfo, "unknown" without one. */
    static String readCpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static String dmiVendor() {
        try {
            return Files.readString(Path.of("/sys/class/dmi/id/sys_vendor")).trim();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
