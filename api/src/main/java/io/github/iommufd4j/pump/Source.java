package io.github.iommufd4j.pump;

import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.HandleStates;
import io.github.iommufd4j.internal.uring.IoUring;
import io.github.iommufd4j.internal.uring.IoUringException;

/**
 * One queue under the pump (pump thread only, apart from {@link #failure()} and {@link #closing()}).
 * The ring works on the pump's own duplicate of the queue's fd, so that the number the application
 * closes is never one the ring uses. The source holds the queue's handle
 * ({@link HandleState.Holder}) from start until the ring has let go of the file: a close of the
 * queue, from any thread, first makes the pump drop it and then destroys it (the kernel would
 * refuse to destroy a queue whose file a poll or our duplicate still holds: EBUSY).
 */
abstract sealed class Source implements HandleState.Holder permits FaultSource, EventSource {
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    private static final int ECANCELED = 125, EBADF = 9;

    final PumpLoop loop;
    final int index;
    final long userData;
    private final HandleState queueState;
    /** Our duplicate of the queue's fd; -1 once released. */
    int fd;
    /** The ring has a poll or a read on {@link #fd} in flight. */
    boolean busy;
    /** No longer served: dropped, or the pump is stopping. */
    boolean retired;
    /** The poll reported the queue readable and it has not been read empty since. */
    boolean ready;
    /** The errno that ended a multishot poll, 0 if none. */
    private int pollError;
    private volatile Throwable failure;

    /** Holds {@code queue} (EBADF if it is closed), then duplicates its fd. */
    Source(PumpLoop loop, int index, long kind, Object queue, int queueFd, String what) throws IommufdException {
        this.loop = loop;
        this.index = index;
        this.userData = kind | index;
        this.queueState = HandleStates.of(queue);
        if (!queueState.hold(this)) throw new IommufdException("FaultPump.start", what, EBADF);
        int dup = Libc.dupCloexec(queueFd);
        if (dup < 0) {
            queueState.release(this);
            throw new IommufdException("fcntl(F_DUPFD_CLOEXEC)", what, -dup);
        }
        this.fd = dup;
    }

    /**
     * The queue is closing (called by the closing thread). On the pump's thread (a handler closed
     * it) the source is dropped and let go of now; otherwise the pump is woken to do it.
     */
    @Override
    public final void closing() {
        if (Thread.currentThread() != loop.thread) {
            loop.answers.wake();
            return;
        }
        drop(new IommufdException("fault pump", describe(), EBADF));
        long deadline = System.nanoTime() + 2_000_000_000L; // a cancel completes at once; do not hang on a broken ring
        try {
            while (busy && System.nanoTime() < deadline) {
                loop.ring.submitAndWait(1, 100_000_000L);
                loop.ring.processCompletions(loop);
            }
        } catch (IoUringException | RuntimeException e) {
            busy = false; // the ring is broken: its operations end when it closes
        }
        letGo();
    }

    /** The handle's isClosed(): the application closed the queue (or its iommufd). */
    abstract boolean queueClosed();

    /** The queue, for messages. */
    abstract String describe();

    /** Queues the ring operation that tells the pump about new records: a multishot poll unless overridden. */
    void arm() throws IoUringException {
        loop.ring.pollAddMultishot(fd, Libc.POLLIN, userData);
        busy = true;
    }

    /** A completion of this source's ring operation: the poll's unless overridden. */
    void completed(int res, int flags) {
        if (!IoUring.hasMore(flags)) {
            busy = false;
            if (res < 0 && res != -ECANCELED) pollError = -res;
        }
        if (res > 0) ready = true;
    }

    /** One turn of the loop: reads and handles what is ready, re-arms. */
    abstract void serve() throws IommufdException;

    /** Arms the poll again if it ended (the kernel ends multishot polls e.g. when the CQ overflowed). */
    final void rearmPoll() throws IommufdException {
        if (busy || retired || loop.stopping) return;
        if (pollError != 0) throw new IommufdException("io_uring poll", describe(), pollError); // this queue's, not the ring's
        arm();
    }

    /** Stops serving the queue after a failure or its close, which is counted and kept for {@link FaultPump#queueFailure}. */
    final void drop(Throwable why) {
        if (failure != null) return;
        failure = why;
        loop.droppedQueues.incrementAndGet();
        if (queueClosed()) { // the application closed it: expected, no stack trace
            LOG.log(System.Logger.Level.DEBUG, () -> "fault pump " + loop.name + " stopped serving " + describe() + ": closed");
        } else {
            LOG.log(System.Logger.Level.WARNING, "fault pump " + loop.name + " stopped serving " + describe() + ": " + why, why);
        }
        retire();
    }

    /** Stops serving: cancels the ring's operation and lets go of our fd (an operation in flight holds the file itself). */
    void retire() {
        if (retired) return;
        retired = true;
        if (busy) {
            try {
                loop.ring.cancel(userData, PumpLoop.CANCEL);
            } catch (IoUringException | RuntimeException e) {
                busy = false; // the ring is closed or broken: its operations end with it
            }
        }
        release();
        if (!busy) letGo();
    }

    /** Closes our fd and ends the hold on the queue, once no ring operation of ours holds its file (idempotent). */
    final void letGo() {
        release();
        queueState.release(this);
    }

    /** Closes our fd (idempotent). */
    void release() {
        if (fd >= 0) {
            Libc.close(fd);
            fd = -1;
        }
    }

    final Throwable failure() {
        return failure;
    }
}
