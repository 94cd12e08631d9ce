package io.github.iommufd4j.pump;

import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.uring.IoUringException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.StampedLock;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The tickets of the groups a pump hands to its handler, and the deferred answers that come back
 * for them from any thread.
 *
 * <p>Each group gets a slot (at most {@code maxOutstanding} at once) and a ticket: the slot in the
 * low {@value #SLOT_BITS} bits and a serial number of the pump above, so no ticket is ever issued
 * twice. {@link #respond} claims the slot's ticket with a compare-and-set, which a made-up, stale
 * or second answer fails, and pushes the slot onto a lock-free stack that the pump thread takes
 * whole. A slot is on the stack at most once, so the stack never fills and respond never waits.
 *
 * <p>An eventfd wakes the pump (one write per batch of answers). The gate, a read-write lock held
 * for reading by every respond, closes once: later responds return false without a system call,
 * and the eventfd is closed only behind the closed gate, so no respond writes into its number
 * after it may belong to another file.
 */
final class AnswerQueue {
    static final int SLOT_BITS = 16, MAX_SLOTS = 1 << SLOT_BITS;
    private static final long SLOT_MASK = MAX_SLOTS - 1;
    private static final int EMPTY = -1;

    /** Receives the answers the pump thread takes. */
    interface Sink {
        void answer(int queue, int cookie, int code);
    }

    // Shared with respond().
    /** Per slot: the ticket waiting for an answer, 0 when none. */
    private final AtomicLongArray live;
    /** Per slot: the claimed answer's code and the stack link; written before the push publishes them. */
    private final int[] codes, next;
    private final AtomicInteger top = new AtomicInteger(EMPTY);
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private final AtomicLong rejected = new AtomicLong();
    private final StampedLock gate = new StampedLock();
    private boolean closed, fdClosed; // guarded by gate
    private final int wakeFd;
    private final MemorySegment one, sink;

    // Pump thread only.
    private final int[] queueOf, cookieOf, free;
    private final boolean[] deferred;
    private int freeCount;
    private long serial;
    private volatile int outstanding;

    AnswerQueue(int capacity) throws IommufdException {
        int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0) throw new IoUringException("eventfd", "EFD_CLOEXEC|EFD_NONBLOCK", -efd, null);
        wakeFd = efd;
        Arena arena = Arena.ofAuto();
        one = arena.allocate(JAVA_LONG);
        one.set(JAVA_LONG, 0, 1);
        sink = arena.allocate(JAVA_LONG);
        live = new AtomicLongArray(capacity);
        codes = new int[capacity];
        next = new int[capacity];
        queueOf = new int[capacity];
        cookieOf = new int[capacity];
        deferred = new boolean[capacity];
        free = new int[capacity];
        for (int i = 0; i < capacity; i++) free[i] = capacity - 1 - i;
        freeCount = capacity;
    }

    int wakeFd() {
        return wakeFd;
    }

    /** Groups deferred by the handler and not answered yet. */
    int outstanding() {
        return outstanding;
    }

    /** Answers refused because their ticket was unknown, answered already or of a dropped queue. */
    long rejected() {
        return rejected.get();
    }

    // ---- any thread

    /** See {@link FaultPump#respond(long, int)}. */
    boolean respond(long ticket, int code) {
        if (code != PageResponses.SUCCESS && code != PageResponses.INVALID) {
            throw new IllegalArgumentException("response code must be PageResponses.SUCCESS (" + PageResponses.SUCCESS
                    + ") or INVALID (" + PageResponses.INVALID + "): " + code);
        }
        long stamp = gate.readLock();
        try {
            if (closed) return false;
            int slot = (int) (ticket & SLOT_MASK);
            if (ticket <= 0 || slot >= live.length() || !live.compareAndSet(slot, ticket, 0)) {
                rejected.incrementAndGet();
                return false;
            }
            codes[slot] = code;
            int t;
            do {
                t = top.get();
                next[slot] = t;
            } while (!top.compareAndSet(t, slot)); // publishes codes[slot] and next[slot]
            if (!wakePending.getAndSet(true)) Libc.write(wakeFd, one, 8);
            return true;
        } finally {
            gate.unlockRead(stamp);
        }
    }

    /**
     * Closes the gate: respond returns false from now on. With {@code wake}, wakes the pump thread
     * (from another thread: it may be waiting on the ring).
     */
    void closeGate(boolean wake) {
        long stamp = gate.writeLock();
        try {
            closed = true;
            if (wake && !fdClosed) Libc.write(wakeFd, one, 8);
        } finally {
            gate.unlockWrite(stamp);
        }
    }

    /** Wakes the pump thread (a queue it serves is closing); nothing once the eventfd is closed. */
    void wake() {
        long stamp = gate.readLock();
        try {
            if (!fdClosed) Libc.write(wakeFd, one, 8);
        } finally {
            gate.unlockRead(stamp);
        }
    }

    /** Closes the gate and the eventfd. */
    void release() {
        long stamp = gate.writeLock();
        try {
            closed = true;
            if (!fdClosed) {
                fdClosed = true;
                Libc.close(wakeFd);
            }
        } finally {
            gate.unlockWrite(stamp);
        }
    }

    // ---- pump thread

    boolean hasFreeSlot() {
        return freeCount > 0;
    }

    /** A slot and a new ticket for a group about to go to the handler; call only when {@link #hasFreeSlot()}. */
    long reserve() {
        int slot = free[--freeCount];
        long ticket = (++serial << SLOT_BITS) | slot;
        live.setRelease(slot, ticket); // the handler hands the ticket on after this
        return ticket;
    }

    /**
     * After the handler: a deferred group keeps its slot for respond(); an answered one frees it,
     * unless respond() claimed the ticket while the handler ran (then that answer is written).
     * The group's queue and cookie are kept only for a slot that stays: only the pump thread reads
     * them ({@link #take}, {@link #dropQueue}, {@link #answerAllInvalid}), after this.
     *
     * @return true if the handler's own code is to be written
     */
    boolean handled(long ticket, boolean deferredByHandler, int queue, int cookie) {
        int slot = (int) (ticket & SLOT_MASK);
        if (!deferredByHandler && live.compareAndSet(slot, ticket, 0)) {
            free[freeCount++] = slot;
            return true;
        }
        queueOf[slot] = queue;
        cookieOf[slot] = cookie;
        deferred[slot] = true;
        outstanding++;
        return false;
    }

    /** Passes the answers that came in to {@code sink} and frees their slots. */
    void take(Sink sink) {
        wakePending.set(false); // before taking: an answer pushed after this writes the eventfd again
        for (int s = top.getAndSet(EMPTY); s != EMPTY; ) {
            int following = next[s];
            sink.answer(queueOf[s], cookieOf[s], codes[s]);
            settle(s);
            s = following;
        }
    }

    /** Withdraws the tickets of queue {@code queue}'s deferred groups: later answers for them are rejected. */
    void dropQueue(int queue) {
        for (int s = 0; s < deferred.length; s++) {
            if (!deferred[s] || queueOf[s] != queue) continue;
            long t = live.get(s);
            // A ticket claimed already (0) is on the stack: take() frees its slot.
            if (t != 0 && live.compareAndSet(s, t, 0)) settle(s);
        }
    }

    /** At shutdown, behind the closed gate: every group still waiting is answered INVALID. */
    void answerAllInvalid(Sink sink) {
        take(sink);
        for (int s = 0; s < deferred.length; s++) {
            if (deferred[s]) {
                live.set(s, 0);
                sink.answer(queueOf[s], cookieOf[s], PageResponses.INVALID);
                settle(s);
            }
        }
    }

    private void settle(int slot) {
        if (deferred[slot]) {
            deferred[slot] = false;
            outstanding--;
        }
        free[freeCount++] = slot;
    }

    /** Empties the eventfd after its poll fired. */
    void drainWake() {
        Libc.read(wakeFd, sink, 8);
    }

    @Override
    public String toString() {
        return "AnswerQueue[outstanding " + outstanding + " of " + live.length() + ", rejected " + rejected.get() + "]";
    }
}
