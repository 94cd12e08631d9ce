package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.HandleState;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;


/**
 * A listening UNIX domain socket at a path ({@code SOCK_SEQPACKET}), the helper's side of
 * {@link FdChannel#connect}. Connecting needs write permission on the socket file: a helper
 * running as root that serves one VMM user gives the file to that user (or checks
 * {@link FdChannel#peer()}). {@link #close()} closes the socket and removes the file.
 * Thread-safe; close wakes a thread waiting in {@link #accept}.
 */
public final class FdListener implements AutoCloseable {
    private final int fd;
    private final Path path;
    private final HandleState state = new HandleState();

    private FdListener(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Creates the socket file at {@code path} and listens.
     *
     * @param path where to create the socket file (its directory must exist)
     * @return the listener, owning the socket and the file
     * @throws IommufdException EADDRINUSE if a file is there, EACCES without write permission on the
     *         directory
     * @throws IllegalArgumentException when the path does not fit {@code sun_path}
     */
    public static FdListener bind(Path path) throws IommufdException {
        String name = path.toString();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = FdChannel.address(a, path);
            // Non-blocking, so that accept after a readiness that went away waits in poll again.
            int s = FdChannel.newSocket("bind", name, Libc.SOCK_NONBLOCK);
            int rc = Libc.bind(s, addr, (int) addr.byteSize());
            if (rc < 0) {
                Libc.close(s);
                throw new IommufdException("bind", "socket=" + name, -rc);
            }
            rc = Libc.listen(s, 4);
            if (rc < 0) {
                Libc.close(s);
                deleteQuietly(path);
                throw new IommufdException("listen", "socket=" + name, -rc);
            }
            return new FdListener(s, path);
        }
    }

    /**
     * The socket file's path.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * Waits for a client and returns its connection.
     *
     * @param timeout the longest wait, or {@code null} for no limit
     * @return the connected channel, owning its socket
     * @throws FdPassingException TIMED_OUT
     * @throws IommufdException the errno of accept4(2), or EBADF "handle is closed" when the listener is
     *         or gets closed
     */
    public FdChannel accept(Duration timeout) throws IommufdException {
        String args = "socket=" + path;
        if (!state.enter()) throw IommufdException.closed("accept", args);
        long deadline = FdChannel.deadline(timeout);
        try (Arena a = Arena.ofConfined()) {
            for (;;) {
                if (state.isClosed()) throw IommufdException.closed("accept", args);
                int c = Libc.accept4(fd, Libc.SOCK_CLOEXEC);
                if (c >= 0) return FdChannel.accepted(c, path + " (accepted)");
                if (c != -FdChannel.EAGAIN && c != -FdChannel.EINTR && c != -FdChannel.ECONNABORTED) {
                    throw new IommufdException("accept4", args, -c);
                }
                FdChannel.awaitReadable(a, fd, state, deadline, timeout, "accept4", args);
            }
        } finally {
            state.exit();
        }
    }

    /**
     * Whether {@link #close()} has been called.
     *
     * @return true once closing has begun
     */
    public boolean isClosed() {
        return state.isClosed();
    }

    /** Closes the socket and removes its file. Idempotent; a thread in {@link #accept} wakes with EBADF. */
    @Override
    public void close() {
        FdChannel.closeSocket(state, fd, () -> deleteQuietly(path));
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // someone else's file now, or a directory we cannot write: nothing of ours is left
        }
    }

    /**
     * Names the socket file and whether it is closed.
     *
     * @return e.g. {@code FdListener[/run/vmm/iommufd.sock]}
     */
    @Override
    public String toString() {
        return "FdListener[" + path + (isClosed() ? ", closed" : "") + "]";
    }
}
