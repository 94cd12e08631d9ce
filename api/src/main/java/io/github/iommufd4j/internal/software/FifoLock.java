package io.github.iommufd4j.internal.software;

import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A first-come-first-served mutual exclusion lock (an MCS queue lock) that allocates nothing once
 * each thread has its queue node: waiters spin, then yield, then park until their predecessor
 * hands the lock over. JDK locks allocate a queue node whenever a thread blocks, and a non-fair
 * lock lets a thread issuing ioctls in a loop starve the fault pump. Not reentrant.
 */
final class FifoLock {
    private static final class Node {
        volatile boolean waiting;
        volatile Node next;
        volatile Thread thread;
    }

    private final AtomicReference<Node> tail = new AtomicReference<>();
    private final ThreadLocal<Node> nodes = ThreadLocal.withInitial(Node::new);

    void lock() {
        Node n = nodes.get();
        n.thread = Thread.currentThread();
        n.next = null;
        n.waiting = true;
        Node pred = tail.getAndSet(n);
        if (pred == null) return;
        pred.next = n;
        for (int i = 0; n.waiting; i++) {
            if (i < 100) Thread.onSpinWait();
            else if (i < 300) Thread.yield();
            else LockSupport.park(this);
        }
    }

    void unlock() {
        Node n = nodes.get();
        if (n.next == null) {
            if (tail.compareAndSet(n, null)) return;
            while (n.next == null) Thread.onSpinWait(); // a successor is linking itself in
        }
        Node s = n.next;
        s.waiting = false;
        LockSupport.unpark(s.thread);
    }
}
