package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** poll(2) for one fd of kernel records (fault queue, event queue), allocation-free. */
final class Readiness {
    private Readiness() {}

    /** One {@code struct pollfd} per thread: blocking loops wait here once per batch. */
    private static final int EINTR = Errno.value("EINTR"); // looked up once, not per poll
    private static final ThreadLocal<MemorySegment> POLLFD = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(Libc.POLLFD));

    /** Waits up to {@code timeoutMillis} (-1: forever) for POLLIN; true if the fd is readable. */
    static boolean await(int fd, int timeoutMillis, String op, Handle owner) throws IommufdException {
        MemorySegment pfd = POLLFD.get();
        pfd.set(ValueLayout.JAVA_INT, 0, fd);
        pfd.set(ValueLayout.JAVA_SHORT, 4, Libc.POLLIN);
        for (;;) {
            int rc = Libc.poll(pfd, 1, timeoutMillis);
            if (rc == -EINTR) continue;
            if (rc < 0) throw new IommufdException(op, owner.describe(), -rc); // ids built only on error
            return rc > 0 && (pfd.get(ValueLayout.JAVA_SHORT, 6) & Libc.POLLIN) != 0;
        }
    }
}
