package io.github.iommufd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code iommufd4j info}: which backend is used and why, and what the iommufd in use supports.
 * (The full command-line tool grows in its own module; this is the library's self-check.)
 */
public final class Info {
    private Info() {}

    /**
     * Prints the availability of the kernel's iommufd, the backend {@link Iommufd#open()} picks and
     * why, the running kernel, each {@link Command} as supported or missing, the mock driver and the
     * VFIO cdevs, then allocates an IOAS as a probe.
     *
     * @param args ignored
     * @throws IOException when opening or probing the iommufd fails
     */
    public static void main(String[] args) throws IOException {
        Availability a = Iommufd.availability();
        System.out.println("kernel iommufd: " + (a.available() ? "available" : "not available") + " (" + a.reason() + ")");
        try (Iommufd fd = Iommufd.open()) {
            System.out.println("backend: " + fd.backend().name().toLowerCase() + " (" + fd.backendReason() + ")");
            Path release = Path.of("/proc/sys/kernel/osrelease");
            if (Files.exists(release)) System.out.println("running kernel: " + Files.readString(release).trim());
            System.out.println("commands:");
            for (Command c : Command.values()) {
                System.out.printf("  %-30s %-10s (Linux %s)%n", c.ioctlName(), fd.supports(c) ? "supported" : "missing", c.since());
            }
            System.out.println("mock driver (CONFIG_IOMMUFD_TEST): " + (fd.mock().isPresent() ? "present" : "absent"));
            Path vfio = Path.of("/dev/vfio/devices");
            if (Files.isDirectory(vfio)) {
                try (var s = Files.list(vfio)) {
                    s.sorted().forEach(p -> System.out.println("vfio device: " + p));
                }
            }
            try (Ioas ioas = fd.allocIoas()) {
                System.out.println("probe: IOAS " + ioas.id() + " allocated, IOVA ranges " + ioas.iovaRanges().ranges());
            }
        }
    }
}
