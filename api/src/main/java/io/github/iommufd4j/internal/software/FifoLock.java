package io.github.iommufd4j.internal.software;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A first-come-first-served mutual exclusion lock (an MCS queue lock) that allocates nothing once
 * each thread has its queue node: waiters spin, then yield, then park until their predecessor
 * hands the lock over. JDK locks allocate a queue node whenever a thread blocks, and a non-fair
 * lock lets a thread issuing ioctls in a loop starve the fault pump. Not reentrant.
 *
 * <p>Uncontended, a lock is one atomic exchange and an unlock one compare-and-set: the node's
 * fields are reset with plain stores, which the exchange publishes.
 *
 * <p>It is also a sequence lock for optimistic readers: a sequence number, odd while the lock is
 * held. {@link #tryOptimisticRead} and {@link #validate} bracket reads that run without the
 * lock, as StampedLock's do, without StampedLock's own atomic operations on every write.
 */
final class FifoLock {
    private static final class Node {
        boolean waiting;
        Node next;
        final Thread thread = Thread.currentThread();
    }

    private static final VarHandle WAITING, NEXT, SEQUENCE;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            WAITING = l.findVarHandle(Node.class, "waiting", boolean.class);
            NEXT = l.findVarHandle(Node.class, "next", Node.class);
            SEQUENCE = l.findVarHandle(FifoLock.class, "sequence", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AtomicReference<Node> tail = new AtomicReference<>();
    private final ThreadLocal<Node> nodes = ThreadLocal.withInitial(Node::new);
    /**
     * The holder's node, or the last holder's (written by the holder only): unlock needs no
     * thread-local lookup, nor does a lock by the thread that held it last. Read racily by
     * {@link #lock}, which uses it only if its (final) thread is the caller: then it is the
     * caller's own node.
     */
    private Node owner;
    /** Even (from 2) while free, odd while held; written by the holder only. */
    private long sequence = 2;

    /** Takes the lock; returns the (odd) sequence number, a stamp {@link #validate} accepts until {@link #unlock}. */
    long lock() {
        Node n = owner; // the last holder's node: this thread's if it held the lock last (no thread-local lookup)
        if (n == null || n.thread != Thread.currentThread()) n = nodes.get();
        n.next = null;
        n.waiting = true;
        Node pred = tail.getAndSet(n);
        if (pred != null) {
            NEXT.setRelease(pred, n);
            for (int i = 0; (boolean) WAITING.getAcquire(n); i++) {
                if (i < 100) Thread.onSpinWait();
                else if (i < 300) Thread.yield();
                else LockSupport.park(this);
            }
        }
        owner = n;
        long odd = sequence + 1;
        SEQUENCE.setOpaque(this, odd);
        VarHandle.storeStoreFence(); // odd before any write under the lock
        return odd;
    }

    void unlock() {
        SEQUENCE.setRelease(this, sequence + 1); // the writes under the lock before the even number
        Node n = owner;
        Node s = (Node) NEXT.getAcquire(n);
        if (s == null) {
            if (tail.compareAndSet(n, null)) return;
            while ((s = (Node) NEXT.getAcquire(n)) == null) Thread.onSpinWait(); // a successor is linking itself in
        }
        WAITING.setRelease(s, false);
        LockSupport.unpark(s.thread);
    }

    /** A stamp for reads without the lock, or 0 while the lock is held. */
    long tryOptimisticRead() {
        long s = (long) SEQUENCE.getAcquire(this);
        return (s & 1) == 0 ? s : 0;
    }

    /** Whether nobody has taken the lock since {@code stamp} was issued (or it is the holder's stamp). */
    boolean validate(long stamp) {
        VarHandle.loadLoadFence(); // the reads being validated before the sequence number
        return (long) SEQUENCE.getOpaque(this) == stamp;
    }
}
