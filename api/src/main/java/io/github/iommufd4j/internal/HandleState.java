package io.github.iommufd4j.internal;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Use/close state of a handle. Operations run between {@link #enter()} and {@link #exit()};
 * {@link #close()} succeeds once, then waits until running operations have left. This keeps a
 * stale handle from reaching an object id the kernel has already reused (ids are reused
 * lowest-first), without a lock on the hot path.
 */
public final class HandleState {
    private static final int CLOSED = 1 << 31;
    private final AtomicInteger state = new AtomicInteger();

    /** Enters an operation: false if the handle is closed. */
    public boolean enter() {
        for (;;) {
            int s = state.get();
            if ((s & CLOSED) != 0) return false;
            if (state.compareAndSet(s, s + 1)) return true;
        }
    }

    public void exit() {
        state.decrementAndGet();
    }

    public boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    /** Marks the handle closed; true for the one caller that closed it, after operations drained. */
    public boolean close() {
        int prev = state.getAndUpdate(s -> s | CLOSED);
        if ((prev & CLOSED) != 0) return false;
        while ((state.get() & ~CLOSED) != 0) Thread.onSpinWait();
        return true;
    }
}
