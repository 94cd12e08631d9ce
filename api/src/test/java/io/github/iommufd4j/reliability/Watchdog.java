package io.github.iommufd4j.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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

    /**
     * Every live thread with its state and stack, then the kernel's side of the test's threads and
     * of any task in uninterruptible sleep (state, wait channel, and the kernel stack where it is
     * readable, e.g. as root in the guests): a thread blocked in an ioctl shows where.
     */
    static String threadDump() {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            b.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            for (StackTraceElement f : e.getValue()) b.append("    at ").append(f).append('\n');
        }
        b.append("kernel side (/proc/self/task):\n");
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    String comm = Files.readString(task.resolve("comm")).trim();
                    String stat = Files.readString(task.resolve("stat"));
                    char state = stat.charAt(stat.lastIndexOf(')') + 2);
                    if (state != 'D' && !comm.startsWith("lifecycle") && !comm.startsWith("iommufd4j")) continue;
                    b.append(task.getFileName()).append(' ').append(comm).append(" state ").append(state)
                            .append(" wchan ").append(Files.readString(task.resolve("wchan"))).append('\n');
                    try {
                        for (String line : Files.readAllLines(task.resolve("stack"))) b.append("    ").append(line).append('\n');
                    } catch (IOException unreadable) {
                        // not root: the wait channel must do
                    }
                } catch (IOException gone) {
                    // the task exited while we looked
                }
            }
        } catch (IOException e) {
            b.append("    (").append(e).append(")\n");
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
