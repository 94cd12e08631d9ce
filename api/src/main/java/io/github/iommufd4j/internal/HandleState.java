package io.github.iommufd4j.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Use/close state of a handle. Kernel calls run between {@link #enter()} and {@link #exit()}
 * (lock-free on the hot path). Closing is three steps, none of which spins:
 * {@link #markClosed()} refuses new calls at once, {@link #awaitIdle} blocks (on this object's
 * monitor) until the calls in flight have left, and {@link #markReleased()} tells concurrent
 * closers, blocked in {@link #awaitReleased()}, that the object is gone. This keeps a stale
 * handle from reaching an object id the kernel has already reused (ids are reused lowest-first).
 *
 * <p>A {@link Holder} is a long-lived use, such as the fault pump serving a queue: it counts as a
 * call in flight from {@link #hold} to {@link #release}, and closing the handle tells it to let go
 * ({@link Holder#closing()}) before waiting for it.
 */
public final class HandleState {
    private static final int CLOSED = 1 << 31;
    private final AtomicInteger state = new AtomicInteger();
    private volatile boolean released;
    private volatile Thread closer;
    private final List<Holder> holders = new ArrayList<>(1); // guarded by this

    /** A long-lived use of a handle that lets go when the handle closes. */
    public interface Holder {
        /**
         * The handle is closing: let go ({@link #release}) soon. Called by the closing thread; when
         * that is the thread that would let go (e.g. a handler on the pump's thread closing its
         * queue), the holder must let go before it returns, or the close would wait for itself.
         */
        void closing();
    }

    /** Enters a call: false if the handle is closed. */
    public boolean enter() {
        for (;;) {
            int s = state.get();
            if ((s & CLOSED) != 0) return false;
            if (state.compareAndSet(s, s + 1)) return true;
        }
    }

    /** Leaves a call; the last one out of a closed handle wakes its closer. */
    public void exit() {
        if (state.decrementAndGet() == CLOSED) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /** Holds the handle like a call in flight until {@link #release}; false if it is closed. */
    public boolean hold(Holder h) {
        synchronized (this) { // with tellHolders' snapshot: a holder either is told or sees the handle closed
            if (!enter()) return false;
            holders.add(h);
            return true;
        }
    }

    /** Ends a hold (once per successful {@link #hold}). */
    public void release(Holder h) {
        synchronized (this) {
            if (!holders.remove(h)) return;
        }
        exit();
    }

    /** Tells the holders that the handle is closing (after {@link #markClosed()}). */
    public void tellHolders() {
        List<Holder> told;
        synchronized (this) {
            if (holders.isEmpty()) return;
            told = List.copyOf(holders);
        }
        for (Holder h : told) h.closing();
    }

    public boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /** Calls in flight (for tests and diagnostics). */
    public int inFlight() {
        return state.get() & ~CLOSED;
    }

    /** Refuses new calls from now on; true for the one caller that closed it. */
    public boolean markClosed() {
        int prev = state.getAndUpdate(s -> s | CLOSED);
        if ((prev & CLOSED) != 0) return false;
        closer = Thread.currentThread();
        return true;
    }

    /**
     * Blocks until the calls in flight have left, except {@code ownCalls} that the calling thread
     * itself is inside (a thread closing a handle from within a call on it must not wait for
     * itself). Interrupts are kept for the caller, not obeyed: a half-closed handle is worse.
     */
    public void awaitIdle(int ownCalls) {
        waitUntil(() -> (state.get() & ~CLOSED) <= ownCalls);
    }

    /** The closer has destroyed the object (or given up): concurrent closers may return. */
    public void markReleased() {
        synchronized (this) {
            released = true;
            notifyAll();
        }
    }

    /** A second closer waits for the first to finish (unless it is the first, re-entering). */
    public void awaitReleased() {
        if (released || closer == Thread.currentThread()) return;
        waitUntil(() -> released);
    }

    /** Waits on this object's monitor (notified by exit and markReleased) until {@code done}. */
    private void waitUntil(java.util.function.BooleanSupplier done) {
        boolean interrupted = false;
        synchronized (this) {
            while (!done.getAsBoolean()) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** {@link #markClosed()} then {@link #awaitIdle awaitIdle(0)}: true for the one caller that closed it. */
    public boolean close() {
        if (!markClosed()) return false;
        awaitIdle(0);
        return true;
    }
}
