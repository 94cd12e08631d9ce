package io.github.iommufd4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the figures were measured: kernel, QEMU (the host passes its version into the guest;
 * a guest without it is recognised by its DMI vendor), JDK, CPUs.
 */
record Environment(String kernel, String qemu, String jdk, int cpus) {

    static Environment detect() {
        String qemu = System.getenv("IOMMUFD4J_QEMU");
        if (qemu == null || qemu.isBlank()) {
            qemu = dmiVendor().contains("QEMU") ? "QEMU (version not passed in)" : "none (bare host)";
        }
        return new Environment(System.getProperty("os.name") + " " + System.getProperty("os.version"), qemu,
                System.getProperty("java.vm.name") + " " + Runtime.version(), Runtime.getRuntime().availableProcessors());
    }

    boolean inGuest() {
        return !qemu.startsWith("none");
    }

    private static String dmiVendor() {
        try {
            return Files.readString(Path.of("/sys/class/dmi/id/sys_vendor")).trim();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
