package io.github.iommufd4j.reliability;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;

/**
 * Hang detector for concurrent tests: each watched thread marks the start and end of every
 * operation in its own slot; an operation running longer than the limit ends the watch with a
 * report naming it, with the stacks of every thread. The watched threads cannot be stopped, so
 * the test fails on the report instead of waiting for them.
 */
final class Watchdog implements AutoCloseable {
    private static final long IDLE = Long.MIN_VALUE;
    private final AtomicLongArray since;
    private final AtomicReferenceArray<String> what;
    private final AtomicReferenceArray<Thread> who;
    private final long limitNanos;
    private final Thread thread;
    private volatile String report;
    private volatile boolean closed;

    Watchdog(int slots, Duration limit) {
        since = new AtomicLongArray(slots);
        for (int i = 0; i < slots; i++) since.set(i, IDLE);
        what = new AtomicReferenceArray<>(slots);
        who = new AtomicReferenceArray<>(slots);
        limitNanos = limit.toNanos();
        thread = Thread.ofPlatform().daemon().name("lifecycle-stress-watchdog").start(this::watch);
    }

    /** The calling thread starts {@code op} in {@code slot}. */
    void begin(int slot, String op) {
        what.set(slot, op);
        who.set(slot, Thread.currentThread());
        since.set(slot, System.nanoTime());
    }

    void end(int slot) {
        since.set(slot, IDLE);
    }

    /** The hang report, or null while no operation has exceeded the limit. */
    String hang() {
        return report;
    }

    private void watch() {
        while (!closed && report == null) {
            LockSupport.parkNanos(200_000_000L);
            long now = System.nanoTime();
            for (int i = 0; i < since.length(); i++) {
                long s = since.get(i);
                if (s != IDLE && now - s > limitNanos) {
                    Thread t = who.get(i);
                    report = what.get(i) + " on " + (t == null ? "?" : t.getName()) + " has not returned for "
                            + (now - s) / 1_000_000_000L + " s\n" + threadDump();
                    break;
                }
            }
        }
    }

    /** Every live thread with its state and stack. */
    static String threadDump() {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            b.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            for (StackTraceElement f : e.getValue()) b.append("    at ").append(f).append('\n');
        }
        return b.toString();
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        LockSupport.unpark(thread);
        thread.join();
    }
}
