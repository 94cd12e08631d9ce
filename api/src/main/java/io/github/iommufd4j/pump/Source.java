package io.github.iommufd4j.pump;

import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.uring.IoUring;
import io.github.iommufd4j.internal.uring.IoUringException;

/**
 * One queue under the pump (pump thread only, apart from {@link #failure()}). The ring works on
 * the pump's own duplicate of the queue's fd: the application may close the queue at any time,
 * and the number it closes may soon belong to another file, while ours stays the queue's until
 * the pump lets go of it.
 */
abstract sealed class Source permits FaultSource, EventSource {
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    private static final int ECANCELED = 125;

    final PumpLoop loop;
    final int index;
    final long userData;
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

    Source(PumpLoop loop, int index, long kind, int queueFd, String what) throws IommufdException {
        this.loop = loop;
        this.index = index;
        this.userData = kind | index;
        int dup = Libc.dupCloexec(queueFd);
        if (dup < 0) throw new IommufdException("fcntl(F_DUPFD_CLOEXEC)", what, -dup);
        this.fd = dup;
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

    /** Stops serving the queue after a failure, which is counted and kept for {@link FaultPump#queueFailure}. */
    final void drop(Throwable why) {
        if (failure != null) return;
        failure = why;
        loop.droppedQueues.incrementAndGet();
        LOG.log(System.Logger.Level.WARNING, "fault pump " + loop.name + " stopped serving " + describe() + ": " + why, why);
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
