package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** poll(2) for one fd of kernel records (fault queue, event queue). */
final class Readiness {
    private Readiness() {}

    /** Waits up to {@code timeoutMillis} (-1: forever) for POLLIN; true if the fd is readable. */
    static boolean await(int fd, int timeoutMillis, String op, String describe) throws IommufdException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pfd = arena.allocate(Libc.POLLFD);
            pfd.set(ValueLayout.JAVA_INT, 0, fd);
            pfd.set(ValueLayout.JAVA_SHORT, 4, Libc.POLLIN);
            for (;;) {
                int rc = Libc.poll(pfd, 1, timeoutMillis);
                if (rc == -Errno.value("EINTR")) continue;
                if (rc < 0) throw new IommufdException(op, describe, -rc);
                return rc > 0 && (pfd.get(ValueLayout.JAVA_SHORT, 6) & Libc.POLLIN) != 0;
            }
        }
    }
}
