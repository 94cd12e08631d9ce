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

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * The Java side of faults.c: mock devices behind nested IOPF-capable page tables, one fault
 * queue each, trigger threads issuing TRIGGER_IOPF with at most {@link Sizes#WINDOW} faults in
 * flight, and a handler answering every fault SUCCESS: the fault pump (one thread for all
 * queues) or a {@link BlockingFaultLoop} per queue. Same protocol as the C side: warm-up
 * rounds of a quarter (for at least the warm-up time), then a timed round until every fault
 * has been answered. Also measures
 * the bytes the handler threads allocate per fault in the timed round.
 */
final class FaultLoad {
    /** PUMP_RING: the pump with {@link FaultPump.RecordPath#RING} (the kernel's fds only). */
    enum Style { PUMP, PUMP_RING, BLOCKING }

    /**
     * @param syscallsPerFault the handler thread's system calls per fault (the pump's counters), NaN if not counted
     * @param ioWorkers        io-wq workers of the pump's thread after the timed round, -1 if not counted
     */
    record Result(double faultsPerSecond, double bytesPerFault, double syscallsPerFault, int ioWorkers) {}

    private static final FaultHandler SUCCESS = (q, f, first, count, ticket) -> PageResponses.SUCCESS;

    private FaultLoad() {}

    /** @param warmupMillis the least warm-up time; negative for none (the first {@code faults} are timed) */
    static Result run(Backend backend, Style style, int queues, int triggers, long faults, int warmupMillis) throws Exception {
        // A fresh iommufd per run, closed as a whole: destroying a fault queue right after its
        // pump closed can fail with EBUSY (the ring's teardown is asynchronous and its armed
        // polls still hold the queue's fd), while closing the iommufd frees everything.
        try (Iommufd fd = Iommufd.open(backend)) {
            Ioas ioas = fd.allocIoas();
            MockDevice[] devs = new MockDevice[queues];
            FaultQueue[] qs = new FaultQueue[queues];
            for (int i = 0; i < queues; i++) {
                qs[i] = fd.allocFaultQueue();
                devs[i] = fd.mock().addFaultingDevice(ioas, qs[i]);
            }
            try (Handlers h = switch (style) {
                case PUMP -> new PumpHandler(qs, FaultPump.RecordPath.SYSCALLS);
                case PUMP_RING -> new PumpHandler(qs, FaultPump.RecordPath.RING);
                case BLOCKING -> new BlockingHandlers(qs);
            }) {
                AtomicLong next = new AtomicLong();
                long until = System.nanoTime() + warmupMillis * 1_000_000L;
                if (warmupMillis >= 0) { // negative: cold, the first faults are timed
                    do round(devs, triggers, next, faults / 4 + 1, h.handled()); while (System.nanoTime() < until);
                }
                long bytes = h.allocatedBytes(), calls = h.systemCalls();
                long t = round(devs, triggers, next, faults, h.handled());
                bytes = h.allocatedBytes() - bytes;
                calls = h.systemCalls() - calls;
                return new Result(faults / (t / 1e9), bytes / (double) faults, calls < 0 ? Double.NaN : calls / (double) faults,
                        h.ioWorkers());
            }
        }
    }

    /** One round of {@code n} faults (numbered on from {@code next}); returns its nanoseconds. */
    private static long round(MockDevice[] devs, int triggers, AtomicLong next, long n, LongSupplier handled) throws Exception {
        long end = next.get() + n;
        List<Thread> threads = new ArrayList<>();
        Throwable[] failure = new Throwable[1];
        long start = System.nanoTime();
        for (int i = 0; i < triggers; i++) {
            threads.add(Thread.ofPlatform().name("trigger-" + i).start(() -> {
                try {
                    for (long k; (k = next.getAndIncrement()) < end; ) {
                        while (k - handled.getAsLong() >= Sizes.WINDOW) Thread.yield();
                        devs[(int) (k % devs.length)].triggerPageFault(0, (int) k, PageFaults.PERM_READ, k << 12);
                    }
                } catch (IommufdException | RuntimeException e) {
                    failure[0] = e;
                }
            }));
        }
        for (Thread t : threads) t.join();
        if (failure[0] != null) throw new IllegalStateException("trigger failed", failure[0]);
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (handled.getAsLong() < end) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("faults not answered: " + handled.getAsLong() + " of " + end);
            LockSupport.parkNanos(200_000); // as the C side's usleep(200)
        }
        next.set(end);
        return System.nanoTime() - start;
    }

    /** The handler side: faults answered so far and bytes its threads allocated. */
    private interface Handlers extends AutoCloseable {
        LongSupplier handled();

        long allocatedBytes();

        /** System calls of the handler thread so far, or a negative number if not counted. */
        default long systemCalls() {
            return Long.MIN_VALUE / 2;
        }

        /** io-wq workers of the handler thread, -1 if not counted. */
        default int ioWorkers() {
            return -1;
        }

        @Override
        void close() throws InterruptedException;
    }

    /** One pump thread for every queue. */
    private static final class PumpHandler implements Handlers {
        private final FaultPump pump;
        private volatile Thread thread;

        PumpHandler(FaultQueue[] qs, FaultPump.RecordPath path) throws Exception {
            pump = FaultPump.start(List.of(qs), (q, f, first, count, ticket) -> {
                if (thread == null) thread = Thread.currentThread(); // to ask the JVM for its allocations
                return PageResponses.SUCCESS;
            }, List.of(), null, Sizes.BATCH, 1024, path);
        }

        @Override
        public LongSupplier handled() {
            return pump::faults;
        }

        @Override
        public long allocatedBytes() {
            if (pump.failure() != null) throw new IllegalStateException("fault pump failed", pump.failure());
            Thread t = thread;
            return t == null ? 0 : Allocations.ofThread(t.threadId()); // null: no fault handled yet (a cold run)
        }

        @Override
        public long systemCalls() {
            return pump.systemCalls();
        }

        @Override
        public int ioWorkers() {
            return pump.ioWorkers();
        }

        @Override
        public void close() {
            pump.close();
        }
    }

    /** A platform thread per queue, each running a BlockingFaultLoop until closed. */
    private static final class BlockingHandlers implements Handlers {
        private final AtomicLong handled = new AtomicLong();
        private final List<Thread> threads = new ArrayList<>();
        private volatile boolean stop;
        private volatile Throwable failure;

        BlockingHandlers(FaultQueue[] qs) {
            // Counted in the handler, just before the loop writes the batch's answers (faults.c
            // counts just after): one write(2) apart, well inside the in-flight window.
            FaultHandler counting = (q, f, first, count, ticket) -> {
                handled.addAndGet(count);
                return SUCCESS.onGroup(q, f, first, count, ticket);
            };
            for (FaultQueue q : qs) {
                BlockingFaultLoop loop = new BlockingFaultLoop(q, counting, Sizes.BATCH);
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
        public LongSupplier handled() {
            return handled::get;
        }

        @Override
        public long allocatedBytes() {
            if (failure != null) throw new IllegalStateException("blocking loop failed", failure);
            long sum = 0;
            for (Thread t : threads) sum += Allocations.ofThread(t.threadId());
            return sum;
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            for (Thread t : threads) t.join();
        }
    }
}
