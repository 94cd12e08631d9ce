package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.testing.Allocations;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Map + unmap of 4 KiB allocate nothing per call in steady state (ThreadMXBean over 100k pairs),
 * on the backend {@code Iommufd.open()} picks and on the software backend in each of its paths:
 * arena and raw (global-scope) memory, with and without a mock domain (which pins), automatic
 * and fixed IOVAs. Steady state means after the JIT has compiled the path, which on a loaded
 * machine takes longer than any fixed warm-up: a run is measured up to {@value #ROUNDS} times and
 * the best one counts (an allocation on the path shows in every round).
 */
class MapUnmapAllocationTest {
    static final int OPS = Integer.getInteger("iommufd4j.map.allocOps", 100_000);
    static final int ROUNDS = 8;

    @Test
    void mapAndUnmapAllocateNothingPerCall() throws Exception {
        try (Iommufd fd = Iommufd.open(); Arena arena = Arena.ofShared()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            assertNothingAllocated(fd, arena.allocate(4096, 4096), true, false);
        }
    }

    @Test
    void softwareMapAndUnmapAllocateNothingPerCall() throws Exception {
        long raw = Libc.mmap(0, 4096, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        assertTrue(raw > 0, "mmap");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment rawPage = MemorySegment.ofAddress(raw).reinterpret(4096);
            rawPage.fill((byte) 0);
            for (MemorySegment page : new MemorySegment[] {arena.allocate(4096, 4096), rawPage}) {
                for (boolean domain : new boolean[] {true, false}) {
                    for (boolean fixed : new boolean[] {false, true}) {
                        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
                            assertNothingAllocated(fd, page, domain, fixed);
                        }
                    }
                }
            }
        } finally {
            Libc.munmap(raw, 4096);
        }
    }

    private static void assertNothingAllocated(Iommufd fd, MemorySegment page, boolean domain, boolean fixed) throws Exception {
        Ioas ioas = fd.allocIoas();
        if (domain) fd.mock().addDevice(ioas);
        String what = String.format("map+unmap (%s backend, %s memory%s, %s IOVA)", fd.backend(),
                page.scope() == MemorySegment.NULL.scope() ? "raw" : "arena", domain ? ", mock domain" : "", fixed ? "fixed" : "automatic");
        loop(ioas, page, 20_000, fixed);
        double best = Double.MAX_VALUE;
        for (int round = 0; round < ROUNDS && best >= 1.0; round++) {
            long before = Allocations.currentThread();
            loop(ioas, page, OPS, fixed);
            best = Math.min(best, (Allocations.currentThread() - before) / (double) OPS);
        }
        System.out.printf("%s: %d pairs, %.2f bytes allocated per pair%n", what, OPS, best);
        assertTrue(best < 1.0, what + ": bytes per pair " + best);
        ioas.close();
    }

    private static void loop(Ioas ioas, MemorySegment page, int n, boolean fixed) throws IommufdException {
        for (int i = 0; i < n; i++) {
            long iova = 1L << 30; // inside the mock domain's aperture
            if (fixed) ioas.map(page, iova, Access.READ_WRITE);
            else iova = ioas.map(page, Access.READ_WRITE);
            ioas.unmap(iova, 4096);
        }
    }
}
