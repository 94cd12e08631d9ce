package io.github.iommufd4j.pump;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.testing.Allocations;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JFR hooks allocate nothing while no recording asks for the library's events, also in the
 * costliest such state: JFR initialized and a recording running with those events disabled (each
 * hook then asks the event type whether it is enabled). The pump thread stays at 0 bytes per fault
 * (FaultPumpAllocationTest's measurement, run inside such a recording); map+unmap, whose figure on
 * the software backend includes the in-process IOMMU's own bookkeeping, allocates no more per pair
 * inside such a recording than without one.
 */
class JfrOffAllocationTest {
    static final List<String> EVENTS = List.of("IoctlFailure", "IoasMap", "IoasUnmap", "Invalidate", "FaultBatch", "FaultPumpStatistics");
    static final int PAIRS = 30_000, ROUNDS = 4;

    /** A running recording that records none of the library's events. */
    private static Recording recordingWithoutOurEvents() {
        Recording r = new Recording();
        for (String e : EVENTS) r.disable("io.github.iommufd4j." + e);
        r.setToDisk(false);
        r.start();
        return r;
    }

    @Test
    void pumpThreadAllocatesNothingPerFaultWhileARecordingLeavesOurEventsOff() throws Exception {
        try (Recording r = recordingWithoutOurEvents()) {
            new FaultPumpAllocationTest().pumpThreadAllocatesNothingPerFault();
        }
    }

    @Test
    void mapAndUnmapAllocateNoMoreWhileARecordingLeavesOurEventsOff() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            fd.mock().addDevice(ioas);
            MemorySegment page = arena.allocate(4096, 4096);
            loop(ioas, page, 50_000); // warm-up
            // Rounds without and inside a recording alternate, each state keeping its least: the
            // software backend's own figure still drops while the JIT settles.
            double without = Double.MAX_VALUE, inside = Double.MAX_VALUE;
            for (int round = 0; round < ROUNDS; round++) {
                without = Math.min(without, bytesPerPair(ioas, page));
                try (Recording r = recordingWithoutOurEvents()) {
                    inside = Math.min(inside, bytesPerPair(ioas, page));
                }
            }
            System.out.printf("map+unmap (software backend): %.2f bytes per pair without a recording, %.2f inside one with our events off%n",
                    without, inside);
            assertTrue(inside - without < 1.0, "bytes per pair: " + without + " without a recording, " + inside + " inside one");
        }
    }

    private static double bytesPerPair(Ioas ioas, MemorySegment page) throws IommufdException {
        long before = Allocations.currentThread();
        loop(ioas, page, PAIRS);
        return (Allocations.currentThread() - before) / (double) PAIRS;
    }

    private static void loop(Ioas ioas, MemorySegment page, int n) throws IommufdException {
        for (int i = 0; i < n; i++) {
            long iova = ioas.map(page, Access.READ_WRITE);
            ioas.unmap(iova, 4096);
        }
    }
}
