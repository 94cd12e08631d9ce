package io.github.iommufd4j.pump;

import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.testing.Allocations;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The pump thread allocates nothing per fault in steady state: measured with
 * ThreadMXBean.getThreadAllocatedBytes over {@code iommufd4j.pump.allocFaults} faults (default
 * 100k) after a warm-up, on whichever backend {@code Iommufd.open()} picks.
 */
class FaultPumpAllocationTest {
    static final int FAULTS = Integer.getInteger("iommufd4j.pump.allocFaults", 100_000);

    @Test
    void pumpThreadAllocatesNothingPerFault() throws Exception {
        try (Iommufd fd = Iommufd.open(); Arena arena = Arena.ofShared()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            FaultHandler handler = (queue, f, first, count, ticket) -> PageResponses.SUCCESS;
            try (FaultPump pump = FaultPump.start(java.util.List.of(q), handler, 64, 64)) {
                Thread pumpThread = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals(pump.threadName())).findFirst().orElseThrow();
                warmUp(pumpThread, () -> trigger(dev, pump, WARM_UP_ROUND));
                long before = Allocations.ofThread(pumpThread.threadId());
                trigger(dev, pump, FAULTS);
                long after = Allocations.ofThread(pumpThread.threadId());
                double perFault = (after - before) / (double) FAULTS;
                System.out.printf("fault pump (%s backend): %d faults, %d bytes allocated on the pump thread, %.4f bytes/fault%n",
                        fd.backend(), FAULTS, after - before, perFault);
                assertEquals(0, pump.handlerErrors());
                assertTrue(perFault < 1.0, "bytes per fault: " + perFault);
            }
        }
    }

    @Test
    void pumpThreadAllocatesNothingPerVirtualEvent() throws Exception {
        try (Iommufd fd = Iommufd.open(); Arena arena = Arena.ofShared()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            assumeTrue(fd.supports(io.github.iommufd4j.Command.VEVENTQ_ALLOC), "kernel without vEVENTQs");
            Ioas ioas = fd.allocIoas();
            MockDevice dev = fd.mock().addDevice(ioas);
            HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
            Viommu v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, java.lang.foreign.MemorySegment.NULL);
            v.allocVdevice(dev.deviceId(), 1);
            dev.replace(v.allocNestedHwpt(dev.deviceId(), MockDriver.HWPT_DATA_SELFTEST,
                    MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), null).id());
            EventQueue q = v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 1 << 19);
            long[] payloadSum = {0};
            EventHandler handler = (queue, events) -> {
                for (int i = 0; i < events.count(); i++) payloadSum[0] += events.payloadInt(i, 0);
            };
            try (FaultPump pump = FaultPump.start(java.util.List.of(), null, java.util.List.of(q), handler, 64, 64)) {
                Thread pumpThread = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals(pump.threadName())).findFirst().orElseThrow();
                long warmed = warmUp(pumpThread, () -> triggerEvents(dev, pump, WARM_UP_ROUND));
                long before = Allocations.ofThread(pumpThread.threadId());
                triggerEvents(dev, pump, FAULTS);
                long after = Allocations.ofThread(pumpThread.threadId());
                double perEvent = (after - before) / (double) FAULTS;
                System.out.printf("event pump (%s backend): %d vEVENTs, %d bytes allocated on the pump thread, %.4f bytes/event%n",
                        fd.backend(), FAULTS, after - before, perEvent);
                assertEquals(0, pump.handlerErrors());
                assertEquals(0, pump.lossMarks());
                assertEquals(warmed + FAULTS, payloadSum[0], "every event carries virt_id 1");
                assertTrue(perEvent < 1.0, "bytes per event: " + perEvent);
            }
        }
    }

    @Test
    void blockingLoopAllocatesNothingPerFaultEvenWhenItWaits() throws Exception {
        try (Iommufd fd = Iommufd.open(); Arena arena = Arena.ofShared()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            BlockingFaultLoop loop = new BlockingFaultLoop(q, (queue, f, first, count, ticket) -> PageResponses.SUCCESS, 16);
            // Bursts with pauses between them: the loop often finds the queue empty and polls.
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            Thread trigger = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; !stop.get(); i++) {
                        dev.triggerPageFault(0, i & 0xffff, PageFaults.PERM_READ, 0x1000L * (i & 0xfff));
                        if ((i & 15) == 15) java.util.concurrent.locks.LockSupport.parkNanos(200_000);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            double perFault;
            long handled;
            try {
                // run(n) returns whole batches, so it may handle a few more than n.
                warmUp(Thread.currentThread(), BLOCKING_WARM_UP_NANOS, () -> assertTrue(loop.run(WARM_UP_ROUND, 10_000) >= WARM_UP_ROUND));
                long before = Allocations.currentThread();
                handled = loop.run(FAULTS, 10_000);
                perFault = (Allocations.currentThread() - before) / (double) handled;
                // Nothing else between the two readings: an assertion message concatenated there
                // once cost ~35 KB on the first run (the JDK linking the string concatenation).
            } finally {
                stop.set(true);
                trigger.join();
            }
            System.out.printf("blocking loop (%s backend): %d faults, %.4f bytes/fault%n", fd.backend(), handled, perFault);
            assertTrue(handled >= FAULTS, "handled " + handled);
            assertTrue(perFault < 1.0, "bytes per fault: " + perFault);
        }
    }

    static final int WARM_UP_ROUND = 20_000;
    /** Upper bound of the warm-up: a slow machine (an emulated guest) compiles late. */
    static final long WARM_UP_NANOS = Long.getLong("iommufd4j.pump.warmUpSeconds", 240) * 1_000_000_000L;

    interface Round {
        void run() throws Exception;
    }

    /**
     * Runs rounds until the JIT has settled: at least three, then until a round allocates
     * (almost) nothing on the pump thread (the optimizing compiler removes the FFM downcalls' temporary
     * objects once it has compiled the path) or the time bound passes. Returns the events or
     * faults it triggered.
     */
    static long warmUp(Thread pumpThread, Round round) throws Exception {
        return warmUp(pumpThread, WARM_UP_NANOS, round);
    }

    /** Upper bound of the blocking loop's warm-up (it compiles sooner than the pump's path). */
    static final long BLOCKING_WARM_UP_NANOS = 30_000_000_000L;

    static long warmUp(Thread pumpThread, long boundNanos, Round round) throws Exception {
        long start = System.nanoTime(), n = 0;
        for (int i = 0; ; i++) {
            long before = Allocations.ofThread(pumpThread.threadId());
            round.run();
            n += WARM_UP_ROUND;
            long bytes = Allocations.ofThread(pumpThread.threadId()) - before;
            // Settled: under 0.01 bytes per fault (a busy machine leaves a few stray bytes per
            // round, e.g. 40 in 20,000 faults, long after the path is compiled).
            if (i >= 2 && (bytes < WARM_UP_ROUND / 100 || System.nanoTime() - start > boundNanos)) {
                System.out.printf("warm-up: %d rounds of %d, %.1f s, last round %d bytes%n", i + 1, WARM_UP_ROUND,
                        (System.nanoTime() - start) / 1e9, bytes);
                return n;
            }
        }
    }

    private static void triggerEvents(MockDevice dev, FaultPump pump, int n) throws Exception {
        long target = pump.events() + n;
        for (int i = 0; i < n; i++) dev.triggerVirtualEvent();
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (pump.events() < target && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(target, pump.events());
    }

    private static void trigger(MockDevice dev, FaultPump pump, int n) throws Exception {
        long target = pump.faults() + n;
        for (int i = 0; i < n; i++) dev.triggerPageFault(0, i & 0xffff, PageFaults.PERM_READ, 0x1000L * (i & 0xfff));
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (pump.faults() < target && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(target, pump.faults());
    }
}
