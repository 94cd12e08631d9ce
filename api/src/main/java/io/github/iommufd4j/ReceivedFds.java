package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Libc;

import java.util.Arrays;

/**
 * One message received by {@link FdChannel}: its payload and the file descriptors it carried
 * (close-on-exec). The descriptors belong to this holder until {@link #take taken}: {@link
 * #close()} closes every descriptor not taken, so a failure between receiving and adopting them
 * leaks nothing:
 *
 * <pre>{@code
 * try (ReceivedFds m = channel.receiveExactly(64, 2, Duration.ofSeconds(10))) {
 *     Iommufd fd = Iommufd.fromFd(m.fd(0));  // refused: the fd stays with m, closed by m
 *     m.take(0);                             // adopted: now owned by fd
 *     ...
 * }
 * }</pre>
 *
 * Thread-safe.
 */
public final class ReceivedFds implements AutoCloseable {
    private final byte[] payload;
    private final int[] fds;
    private final boolean[] owned;
    private boolean closed;

    ReceivedFds(byte[] payload, int[] fds) {
        this.payload = payload;
        this.fds = fds;
        this.owned = new boolean[fds.length];
        Arrays.fill(owned, true);
    }

    /**
     * The message's bytes.
     *
     * @return a copy
     */
    public byte[] payload() {
        return payload.clone();
    }

    /**
     * How many descriptors the message carried.
     *
     * @return the count
     */
    public int count() {
        return fds.length;
    }

    /**
     * Descriptor {@code i}, still owned by this holder (closed by {@link #close()} unless taken).
     *
     * @param i the index, below {@link #count()}
     * @return the fd
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     * @throws IllegalStateException when closed or already taken
     */
    public synchronized int fd(int i) {
        check(i);
        return fds[i];
    }

    /**
     * Descriptor {@code i}, now owned by the caller: {@link #close()} leaves it open. Once per
     * descriptor.
     *
     * @param i the index, below {@link #count()}
     * @return the fd
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     * @throws IllegalStateException when closed or already taken
     */
    public synchronized int take(int i) {
        check(i);
        owned[i] = false;
        return fds[i];
    }

    private void check(int i) {
        if (i < 0 || i >= fds.length) throw new IndexOutOfBoundsException("descriptor " + i + " of " + fds.length);
        if (closed) throw new IllegalStateException("closed: the descriptors not taken are closed");
        if (!owned[i]) throw new IllegalStateException("descriptor " + i + " (fd " + fds[i] + ") was already taken");
    }

    /** Closes every descriptor not taken. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        closeAll(fds, owned);
    }

    /** Closes {@code fds[i]} where {@code which[i]} (every one if {@code which} is null). */
    static void closeAll(int[] fds, boolean[] which) {
        for (int i = 0; i < fds.length; i++) if (which == null || which[i]) Libc.close(fds[i]);
    }

    /**
     * The payload size, the descriptors and whether closed.
     *
     * @return e.g. {@code ReceivedFds[1 bytes, fds=[7, 8]]}
     */
    @Override
    public synchronized String toString() {
        return "ReceivedFds[" + payload.length + " bytes, fds=" + Arrays.toString(fds) + (closed ? ", closed" : "") + "]";
    }
}
