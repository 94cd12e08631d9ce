package io.github.iommufd4j;

/**
 * Whether the kernel's iommufd can be used here, and if not, why.
 *
 * @param available true when {@code /dev/iommu} opened
 * @param reason    a precise reason when it did not, e.g. "no /dev/iommu: kernel without CONFIG_IOMMUFD"
 */
public record Availability(boolean available, String reason) {
    static Availability probe(String path) {
        var f = new java.io.File(path);
        if (!f.exists()) {
            return new Availability(false, "no " + path + ": kernel without CONFIG_IOMMUFD (or the iommufd module is not loaded)");
        }
        int fd = io.github.iommufd4j.bindings.Libc.open(path, io.github.iommufd4j.bindings.Libc.O_RDWR
                | io.github.iommufd4j.bindings.Libc.O_CLOEXEC, 0);
        if (fd >= 0) {
            io.github.iommufd4j.bindings.Libc.close(fd);
            return new Availability(true, path + " opened");
        }
        String name = io.github.iommufd4j.bindings.Errno.name(-fd);
        String why = switch (name) {
            case "EACCES", "EPERM" -> "permission denied: run as root, or give this user access to " + path;
            case "ENXIO", "ENODEV" -> "the iommufd driver behind " + path + " is not present";
            default -> io.github.iommufd4j.bindings.Errno.describe(-fd);
        };
        return new Availability(false, path + ": " + name + ": " + why);
    }
}
