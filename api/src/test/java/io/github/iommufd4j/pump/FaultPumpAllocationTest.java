package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
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
                        .filter(t -> t.getName().equals("iommufd4j-fault-pump")).findFirst().orElseThrow();
                trigger(dev, pump, 60_000); // warm-up: JIT, lazily created buffers
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

    private static void trigger(MockDevice dev, FaultPump pump, int n) throws Exception {
        long target = pump.faults() + n;
        for (int i = 0; i < n; i++) dev.triggerPageFault(0, i & 0xffff, PageFaults.PERM_READ, 0x1000L * (i & 0xfff));
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (pump.faults() < target && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(target, pump.faults());
    }
}
