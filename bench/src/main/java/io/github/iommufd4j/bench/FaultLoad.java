package io.github.iommufd4j.bench;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.BlockingFaultLoop;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import io.github.iommufd4j.testing.Allocations;

import com.sun.management.OperatingSystemMXBean;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The Java side of faults.c: mock devices behind nested IOPF-capable page tables, one fault
 * queue each, trigger threads issuing TRIGGER_IOPF with at most {@link Sizes#WINDOW} faults in
 * flight, and a handler answering every fault SUCCESS: the fault pump (one thread for all
 * queues) or a {@link BlockingFaultLoop} per queue. Same protocol as the C side: warm-up
 * rounds of a quarter (for at least the warm-up time), then a timed round until every fault
 * has been handled. Also measures the bytes the handler threads allocate per fault, and the CPU
 * time of the handler and trigger threads, in the timed round.
 *
 * <p>So that the clock counts only the faults' work (in the bench's guest it counts
 * instructions), as faults.c does: the trigger threads are started before the clock; a trigger
 * that finds the window full parks until half of it is free instead of spinning; the clock stops
 * in the handler that counts the round's last fault (at the end of its batch), and the main
 * thread parks until then instead of polling.
 */
final class FaultLoad {
    /**
     * PUMP_RING: the pump with {@link FaultPump.RecordPath#RING} (the kernel's fds only); TRIGGER:
     * no handler, the triggers alone with no window (the faults stay queued until the iommufd
     * closes), so the round's time is what triggering costs, as faults.c's mode trigger.
     */
    enum Style { PUMP, PUMP_RING, BLOCKING, TRIGGER }

    /**
     * @param syscallsPerFault the handler thread's system calls per fault (the pump's counters), NaN if not counted
     * @param ioWorkers        io-wq workers of the pump's thread after the timed round, -1 if not counted
     * @param handlerCpuNs     CPU time of the handler threads per fault in the timed round
     * @param triggerCpuNs     CPU time of the trigger threads per fault in the timed round
     * @param triggerWaits     times a trigger parked for room in the window in the timed round
     * @param compileMillis    the JIT's compilation time during the timed round (-1 if unknown)
     */
    record Result(double faultsPerSecond, double bytesPerFault, double syscallsPerFault, int ioWorkers, double handlerCpuNs,
                  double triggerCpuNs, long triggerWaits, long compileMillis) {}

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final CompilationMXBean JIT = ManagementFactory.getCompilationMXBean();
    private static final OperatingSystemMXBean OS = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private FaultLoad() {}

    /** A mock device per queue of {@code qs} (filled with new queues), its faults going to that queue. */
    private static MockDevice[] faultingDevices(Iommufd fd, FaultQueue[] qs) throws IommufdException {
        Ioas ioas = fd.allocIoas();
        MockDevice[] devs = new MockDevice[qs.length];
        for (int i = 0; i < qs.length; i++) {
            qs[i] = fd.allocFaultQueue();
            devs[i] = fd.mock().addFaultingDevice(ioas, qs[i]);
        }
        return devs;
    }

    /** @param warmupMillis the least warm-up time; negative for none (the first {@code faults} are timed) */
    static Result run(Backend backend, Style style, int queues, int triggers, long faults, int warmupMillis) throws Exception {
        // A fresh iommufd per run, closed as a whole: destroying a fault queue right after its
        // pump closed can fail with EBUSY (the ring's teardown is asynchronous and its armed
        // polls still hold the queue's fd), while closing the iommufd frees everything.
        try (Iommufd fd = Iommufd.open(backend)) {
            FaultQueue[] qs = new FaultQueue[queues];
            MockDevice[] devs = faultingDevices(fd, qs);
            try (Handlers h = switch (style) {
                case PUMP -> new PumpHandler(qs, FaultPump.RecordPath.SYSCALLS, null);
                case PUMP_RING -> new PumpHandler(qs, FaultPump.RecordPath.RING, null);
                case BLOCKING -> new BlockingHandlers(qs);
                case TRIGGER -> new NoHandler();
            }) {
                long[] base = {0};
                if (style == Style.TRIGGER) warmupMillis = Math.min(warmupMillis, 0); // one round: the faults stay queued
                long until = System.nanoTime() + warmupMillis * 1_000_000L;
                if (warmupMillis >= 0) { // negative: cold, the first faults are timed
                    do round(devs, triggers, base, faults / 4 + 1, h); while (System.nanoTime() < until);
                }
                quiesce();
                long bytes = h.allocatedBytes(), calls = h.systemCalls(), jit = compileMillis();
                Round r = round(devs, triggers, base, faults, h);
                jit = jit < 0 ? -1 : compileMillis() - jit;
                bytes = h.allocatedBytes() - bytes;
                calls = h.systemCalls() - calls;
                return new Result(faults / (r.nanos / 1e9), bytes / (double) faults, calls < 0 ? Double.NaN : calls / (double) faults,
                        h.ioWorkers(), r.handlerCpu / (double) faults, r.triggerCpu / (double) faults, r.waits, jit);
            }
        }
    }

    /**
     * The pump on faults queued before it starts: the triggers alone queue a round (no window),
     * then a pump is started and timed until it has handled them all (whole batches, no wake-ups),
     * as faults.c's mode drain does with its uring-write handler; {@code batch} records per read. A
     * warm-up round of a quarter, then
     * the timed one. Returns the drain's faults per second (from the pump's start) and, as
     * handlerCpuNs, the pump thread's CPU time per fault from the end of its first batch to its last
     * (the other vCPU is idle then: the pump's instructions).
     */
    static Result drain(Backend backend, int queues, int triggers, long faults, int batch) throws Exception {
        try (Iommufd fd = Iommufd.open(backend)) {
            FaultQueue[] qs = new FaultQueue[queues];
            MockDevice[] devs = faultingDevices(fd, qs);
            long[] base = {0};
            Result r = null;
            for (long n : new long[] {faults / 4 + 1, faults}) {
                try (NoHandler none = new NoHandler()) {
                    round(devs, triggers, base, n, none);
                }
                quiesce();
                Progress p = new Progress(n, Long.MAX_VALUE);
                p.drainCpu = true;
                long start = System.nanoTime();
                try (PumpHandler h = new PumpHandler(qs, FaultPump.RecordPath.SYSCALLS, p, batch)) {
                    while (p.endNanos == 0) {
                        h.check();
                        LockSupport.parkNanos(p, 1_000_000_000L);
                    }
                    r = new Result(n / ((p.endNanos - start) / 1e9), Double.NaN, h.systemCalls() / (double) n, -1,
                            (p.cpuEnd - p.cpuFirst) / (double) (n - p.firstBatch), Double.NaN, 0, -1);
                }
            }
            return r;
        }
    }

    /**
     * Waits (10 s at most) until this JVM's other threads are idle: its CPU time grows by less than
     * 5% of 50 ms. JIT compilations left from the warm-up (or from the code between rounds) would
     * otherwise run in the timed round, whose clock counts the instructions of every thread (also
     * a C baseline's, which runs beside this JVM).
     */
    static void quiesce() throws InterruptedException {
        for (int i = 0; i < 200; i++) {
            long cpu = OS.getProcessCpuTime(), t = System.nanoTime();
            Thread.sleep(50);
            if (OS.getProcessCpuTime() - cpu < (System.nanoTime() - t) / 20) return;
        }
    }

    private static long compileMillis() {
        return JIT != null && JIT.isCompilationTimeMonitoringSupported() ? JIT.getTotalCompilationTime() : -1;
    }

    /** A timed round: its nanoseconds, the CPU nanoseconds of the handler and trigger threads, the triggers' waits. */
    private record Round(long nanos, long handlerCpu, long triggerCpu, long waits) {}

    /**
     * Faults handled in one round, counted by the handler threads at the end of each batch (as
     * faults.c counts per batch): stops the clock at the round's last fault and wakes the
     * trigger threads parked for room in the window.
     */
    static final class Progress {
        private final long end, window;
        private final Thread main = Thread.currentThread();
        private final AtomicLong handled = new AtomicLong(), wakeAt = new AtomicLong(Long.MAX_VALUE), waits = new AtomicLong();
        private final AtomicInteger sleepers = new AtomicInteger();
        private final List<Thread> triggers = new ArrayList<>();
        private volatile long endNanos;
        /** For a drain (one handler thread): its CPU time at the end of its first batch and of the last, that batch's size. */
        private boolean drainCpu;
        private long cpuFirst = -1, cpuEnd, firstBatch;

        /** @param window faults in flight at most, Long.MAX_VALUE for no window (nobody answers) */
        Progress(long end, long window) {
            this.end = end;
            this.window = window;
        }

        /** Called by a handler thread at the last group of a batch of {@code n} records. */
        void handled(long n) {
            long h = handled.addAndGet(n);
            if (drainCpu && cpuFirst < 0) {
                cpuFirst = THREADS.getCurrentThreadCpuTime();
                firstBatch = n;
            }
            if (drainCpu && h >= end) cpuEnd = THREADS.getCurrentThreadCpuTime();
            if (h >= end && h - n < end) {
                endNanos = System.nanoTime();
                LockSupport.unpark(main);
            }
            if (sleepers.get() > 0 && h >= wakeAt.get()) {
                wakeAt.set(Long.MAX_VALUE);
                for (Thread t : triggers) LockSupport.unpark(t);
            }
        }

        /** Parks the calling trigger until fault {@code k} fits in the window, waking once half of it is free. */
        void awaitRoom(long k) {
            while (k - handled.get() >= window) {
                sleepers.incrementAndGet();
                long target = k - window / 2;
                for (long cur; target < (cur = wakeAt.get()) && !wakeAt.compareAndSet(cur, target); ) {}
                if (k - handled.get() >= window) LockSupport.park(this);
                sleepers.decrementAndGet();
                waits.incrementAndGet();
            }
        }
    }

    /** A handler's answer to every group: SUCCESS, counted in {@code h}'s round at the end of each batch. */
    private static FaultHandler counting(Handlers h) {
        return (q, f, first, count, ticket) -> {
            if (first + count == f.count()) h.progress().handled(f.count());
            return PageResponses.SUCCESS;
        };
    }

    /** One round of {@code n} faults (numbered on from {@code base[0]}). */
    private static Round round(MockDevice[] devs, int triggers, long[] base, long n, Handlers h) throws Exception {
        boolean answered = !(h instanceof NoHandler);
        Progress p = new Progress(n, answered ? Sizes.WINDOW : Long.MAX_VALUE);
        long from = base[0];
        AtomicLong next = new AtomicLong();
        AtomicLong triggerCpu = new AtomicLong();
        CountDownLatch go = new CountDownLatch(1);
        Throwable[] failure = new Throwable[1];
        for (int i = 0; i < triggers; i++) {
            p.triggers.add(Thread.ofPlatform().name("trigger-" + i).start(() -> {
                try {
                    go.await();
                    long cpu = THREADS.getCurrentThreadCpuTime();
                    for (long k; (k = next.getAndIncrement()) < n; ) {
                        p.awaitRoom(k);
                        long f = from + k;
                        devs[(int) (f % devs.length)].triggerPageFault(0, (int) f, PageFaults.PERM_READ, f << 12);
                    }
                    triggerCpu.addAndGet(THREADS.getCurrentThreadCpuTime() - cpu);
                } catch (IommufdException | RuntimeException | InterruptedException e) {
                    failure[0] = e;
                }
            }));
        }
        h.begin(p);
        long cpu = h.cpuNanos();
        long start = System.nanoTime();
        go.countDown();
        for (Thread t : p.triggers) t.join();
        if (failure[0] != null) throw new IllegalStateException("trigger failed", failure[0]);
        if (!answered) p.endNanos = System.nanoTime(); // the triggers alone
        long deadline = start + 600_000_000_000L;
        while (p.endNanos == 0) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("faults not answered: " + p.handled.get() + " of " + n);
            h.check();
            LockSupport.parkNanos(p, 1_000_000_000L);
        }
        cpu = h.cpuNanos() - cpu;
        base[0] = from + n;
        return new Round(p.endNanos - start, cpu, triggerCpu.get(), p.waits.get());
    }

    /** The handler side: the round it counts in, bytes and CPU time of its threads. */
    private abstract static class Handlers implements AutoCloseable {
        private volatile Progress progress;

        /** The round now counted (set before its clock starts). */
        final Progress progress() {
            return progress;
        }

        final void begin(Progress p) {
            progress = p;
        }

        /** The handler threads (empty until known). */
        abstract List<Thread> threads();

        /** Throws what stopped the handler threads, if anything did. */
        abstract void check();

        final long allocatedBytes() {
            check();
            long sum = 0;
            for (Thread t : threads()) sum += Allocations.ofThread(t.threadId());
            return sum;
        }

        final long cpuNanos() {
            long sum = 0;
            for (Thread t : threads()) sum += THREADS.getThreadCpuTime(t.threadId());
            return sum;
        }

        /** System calls of the handler thread so far, or a negative number if not counted. */
        long systemCalls() {
            return Long.MIN_VALUE / 2;
        }

        /** io-wq workers of the handler thread, -1 if not counted. */
        int ioWorkers() {
            return -1;
        }

        @Override
        public abstract void close() throws InterruptedException;
    }

    /** One pump thread for every queue. */
    private static final class PumpHandler extends Handlers {
        private final FaultPump pump;
        private final Thread thread;

        /** @param progress the round counted from the start (faults queued already), or null */
        PumpHandler(FaultQueue[] qs, FaultPump.RecordPath path, Progress progress) throws Exception {
            this(qs, path, progress, Sizes.BATCH);
        }

        /** @param batch records per read */
        PumpHandler(FaultQueue[] qs, FaultPump.RecordPath path, Progress progress, int batch) throws Exception {
            begin(progress);
            pump = FaultPump.start(List.of(qs), counting(this), List.of(), null, batch, 1024, path);
            // The pump's thread, by the name the pump reports: the JVM's figures for its allocations and CPU time.
            thread = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(pump.threadName())).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no thread named " + pump.threadName()));
        }

        @Override
        List<Thread> threads() {
            return List.of(thread);
        }

        @Override
        void check() {
            if (pump.failure() != null) throw new IllegalStateException("fault pump failed", pump.failure());
        }

        @Override
        long systemCalls() {
            return pump.systemCalls();
        }

        @Override
        int ioWorkers() {
            return pump.ioWorkers();
        }

        @Override
        public void close() {
            pump.close();
        }
    }

    /** No handler: the faults stay queued (Style.TRIGGER). */
    private static final class NoHandler extends Handlers {
        @Override
        List<Thread> threads() {
            return List.of();
        }

        @Override
        void check() {}

        @Override
        public void close() {}
    }

    /** A platform thread per queue, each running a BlockingFaultLoop until closed. */
    private static final class BlockingHandlers extends Handlers {
        private final List<Thread> threads = new ArrayList<>();
        private volatile boolean stop;
        private volatile Throwable failure;

        BlockingHandlers(FaultQueue[] qs) {
            // Counted at the end of each batch, just before the loop writes its answers (faults.c
            // counts just after): one write(2) apart, well inside the in-flight window.
            FaultHandler answer = counting(this);
            for (FaultQueue q : qs) {
                BlockingFaultLoop loop = new BlockingFaultLoop(q, answer, Sizes.BATCH);
                threads.add(Thread.ofPlatform().name("blocking-" + q.id()).start(() -> {
                    try {
                        while (!stop) loop.run(Long.MAX_VALUE, 100);
                    } catch (IommufdException | RuntimeException e) {
                        failure = e;
                    }
                }));
            }
        }

        @Override
        List<Thread> threads() {
            return threads;
        }

        @Override
        void check() {
            if (failure != null) throw new IllegalStateException("blocking loop failed", failure);
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            for (Thread t : threads) t.join();
        }
    }
}
