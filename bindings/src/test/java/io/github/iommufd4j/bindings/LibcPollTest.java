package io.github.iommufd4j.bindings;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Libc.poll: readiness through the capture-free call, errno through the repeated capturing one. */
class LibcPollTest {
    @Test
    void readinessAndTimeout() {
        try (Arena arena = Arena.ofConfined()) {
            int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC);
            try {
                MemorySegment pfd = arena.allocate(Libc.POLLFD);
                pfd.set(ValueLayout.JAVA_INT, 0, efd);
                pfd.set(ValueLayout.JAVA_SHORT, 4, Libc.POLLIN);
                assertEquals(0, Libc.poll(pfd, 1, 0), "nothing written yet");
                MemorySegment one = arena.allocate(8);
                one.set(ValueLayout.JAVA_LONG, 0, 1);
                assertEquals(8, Libc.write(efd, one, 8));
                assertEquals(1, Libc.poll(pfd, 1, 1000));
                assertEquals(Libc.POLLIN, pfd.get(ValueLayout.JAVA_SHORT, 6) & Libc.POLLIN);
            } finally {
                Libc.close(efd);
            }
        }
    }

    @Test
    void failureReportsErrno() {
        try (Arena arena = Arena.ofConfined()) {
            // More fds than RLIMIT_NOFILE allows: the kernel answers EINVAL.
            long nfds = 1L << 24;
            MemorySegment pfds = arena.allocate(nfds * 8);
            assertEquals(-Errno.value("EINVAL"), Libc.poll(pfds, nfds, 0));
        }
    }
}
