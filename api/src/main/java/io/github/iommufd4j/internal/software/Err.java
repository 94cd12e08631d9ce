package io.github.iommufd4j.internal.software;

/** The Linux errno values the software backend returns (x86-64 numbering). */
final class Err {
    private Err() {}

    static final int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, EAGAIN = 11,
            ENOMEM = 12, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOTTY = 25,
            ENOSPC = 28, ESPIPE = 29, ERANGE = 34, EBADE = 52, EOVERFLOW = 75, EBADFD = 77, EMSGSIZE = 90,
            EOPNOTSUPP = 95, EADDRINUSE = 98;

    /**
     * Throws {@link Fail} with {@code errno} when {@code condition} holds. It lives here, not in
     * Fail: C2 never inlines a static method of a Throwable subclass into other classes' code
     * ("exception method"), and these checks run several times per ioctl.
     */
    static void when(boolean condition, int errno) {
        if (condition) throw new Fail(errno);
    }
}
