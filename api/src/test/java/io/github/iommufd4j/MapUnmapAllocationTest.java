package io.github.iommufd4j;

import io.github.iommufd4j.testing.Allocations;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Map + unmap of 4 KiB on an IOAS with a mock domain allocate nothing per call in steady state
 * on the native backend (ThreadMXBean over 100k pairs after a warm-up). On the software backend
 * the figure includes the in-process IOMMU's own bookkeeping and is only bounded.
 */
class MapUnmapAllocationTest {
    static final int OPS = Integer.getInteger("iommufd4j.map.allocOps", 100_000);

    @Test
    void mapAndUnmapAllocateNothingPerCall() throws Exception {
        try (Iommufd fd = Iommufd.open(); Arena arena = Arena.ofShared()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            Ioas ioas = fd.allocIoas();
            fd.mock().addDevice(ioas);
            MemorySegment page = arena.allocate(4096, 4096);
            loop(ioas, page, 20_000);
            long before = Allocations.currentThread();
            loop(ioas, page, OPS);
            long after = Allocations.currentThread();
            double perPair = (after - before) / (double) OPS;
            System.out.printf("map+unmap (%s backend): %d pairs, %.2f bytes allocated per pair%n", fd.backend(), OPS, perPair);
            if (fd.backend() == Backend.NATIVE) {
                assertTrue(perPair < 1.0, "bytes per map+unmap: " + perPair);
            } else {
                assertTrue(perPair < 256, "software backend bytes per map+unmap: " + perPair);
            }
        }
    }

    private static void loop(Ioas ioas, MemorySegment page, int n) throws IommufdException {
        for (int i = 0; i < n; i++) {
            long iova = ioas.map(page, Access.READ_WRITE);
            ioas.unmap(iova, 4096);
        }
    }
}
