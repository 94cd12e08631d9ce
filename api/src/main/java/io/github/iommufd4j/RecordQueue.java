package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * What the two record queues share ({@link FaultQueue}, {@link EventQueue}): a kernel object with
 * a file descriptor of fixed-size records, whose read never blocks (0 when empty), and a wait for
 * readiness that {@link #close()} interrupts. The wait polls the queue's fd and a wake eventfd of
 * this handle; close signals the eventfd, so a thread waiting forever is woken at once with the
 * "closed" error. Both fds are owned by this handle.
 */
abstract sealed class RecordQueue extends Handle permits FaultQueue, EventQueue {
    private static final int EINTR = Errno.value("EINTR"); // looked up once, not per poll
    /** The 8-byte value 1 that a close writes to the wake eventfd. */
    private static final MemorySegment ONE = one();
    /** Two {@code struct pollfd} per thread (queue, wake): blocking loops wait once per batch. */
    private static final ThreadLocal<MemorySegment> POLLFDS =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(Libc.POLLFD, 2));

    private final int id;
    private final int fd;
    private final int wakeFd;
    private final String readOp, pollOp;

    RecordQueue(Iommufd iommufd, int id, int fd, int wakeFd, String kind) {
        super(iommufd);
        this.id = id;
        this.fd = fd;
        this.wakeFd = wakeFd;
        this.readOp = "read(" + kind + " fd)";
        this.pollOp = "poll(" + kind + " fd)";
    }

    /** The eventfd that wakes this queue's waiters, or the errno of eventfd(2) as an exception. */
    static int newWakeFd(String op) throws IommufdException {
        int w = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (w < 0) throw new IommufdException(op, "eventfd for close wake-ups", -w);
        return w;
    }

    /**
     * The kernel's object id.
     *
     * @return the queue's id
     */
    public int id() {
        return id;
    }

    /**
     * The queue's file descriptor, e.g. to poll it or to hand it to an io_uring. Owned by this
     * handle: do not close it (closing the handle does).
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /** read(2) of up to {@code bytes} into {@code buffer}: the bytes read (0 when none are pending). */
    final long readRecords(MemorySegment buffer, long bytes) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, readOp)) {
            return k.read(fd, buffer, bytes, this);
        }
    }

    /**
     * Waits until a record is pending. A close of this handle (or of its iommufd) from another
     * thread ends the wait at once.
     *
     * @param timeoutMillis the longest wait in milliseconds: -1 waits forever, 0 only looks
     * @return true if a record is pending, false on timeout
     * @throws IommufdException EBADF "handle is closed" when the queue is or gets closed; the errno
     *         of poll(2) otherwise
     * @throws IllegalArgumentException for a timeout below -1
     */
    public final boolean await(int timeoutMillis) throws IommufdException {
        if (timeoutMillis < -1) throw new IllegalArgumentException(pollOp + ": timeout " + timeoutMillis + " ms (-1 waits forever)");
        try (KernelCall k = KernelCall.begin(this, pollOp)) {
            MemorySegment pfd = POLLFDS.get();
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(JAVA_SHORT, 4, Libc.POLLIN);
            pfd.set(JAVA_INT, 8, wakeFd);
            pfd.set(JAVA_SHORT, 12, Libc.POLLIN);
            for (;;) {
                int rc = Libc.poll(pfd, 2, timeoutMillis);
                if (rc == -EINTR) continue;
                if (rc < 0) throw new IommufdException(pollOp, describe(), -rc); // ids built only on error
                if (pfd.get(JAVA_SHORT, 14) != 0) throw IommufdException.closed(pollOp, describe());
                return rc > 0 && (pfd.get(JAVA_SHORT, 6) & Libc.POLLIN) != 0;
            }
        }
    }

    private static MemorySegment one() {
        MemorySegment s = Arena.global().allocate(JAVA_LONG);
        s.set(JAVA_LONG, 0, 1L);
        return s;
    }

    @Override
    final void wakeWaiters() {
        Libc.write(wakeFd, ONE, 8);
    }

    @Override
    final void release() throws IommufdException {
        releaseFds(); // the fd holds the kernel object: close it first, then the object can be destroyed
        iommufd.destroy(id);
    }

    @Override
    final void closeFds() {
        iommufd.raw().closeFd(fd);
        Libc.close(wakeFd);
    }
}
