package io.github.iommufd4j.bench;

import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_unmap;
import io.github.iommufd4j.internal.software.SoftwareBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * The software backend's own share of a map+unmap pair: IOMMU_IOAS_MAP (kernel-chosen IOVA) and
 * IOMMU_IOAS_UNMAP of 4 KiB, issued as ioctls straight to the backend on an IOAS without a domain,
 * the memory registered once. What the typed API adds (busy marking, struct set-up, checks,
 * registration per map, mapping bookkeeping) is the typed no-domain figure minus this one.
 */
final class SoftwareIoctls {
    private SoftwareIoctls() {}

    /** ns per pair after {@code warmup} pairs (and at least {@code warmupMillis}). */
    static double run(int pairs, int warmup, int warmupMillis) {
        try (SoftwareBackend backend = new SoftwareBackend(); Arena arena = Arena.ofConfined()) {
            MemorySegment map = arena.allocate(iommu_ioas_map.sizeof(), 8), unmap = arena.allocate(iommu_ioas_unmap.sizeof(), 8);
            MemorySegment alloc = arena.allocate(iommu_ioas_alloc.sizeof(), 8);
            iommu_ioas_alloc.size(alloc, (int) iommu_ioas_alloc.sizeof());
            check(backend.ioctl(IOMMU_IOAS_ALLOC(), alloc));
            int ioas = iommu_ioas_alloc.out_ioas_id(alloc);
            MemorySegment page = arena.allocate(4096, 4096);
            backend.registerMemory(page);
            long until = System.nanoTime() + warmupMillis * 1_000_000L;
            do loop(backend, ioas, page, map, unmap, warmup); while (System.nanoTime() < until);
            long t = System.nanoTime();
            loop(backend, ioas, page, map, unmap, pairs);
            return (System.nanoTime() - t) / (double) pairs;
        }
    }

    private static void loop(SoftwareBackend backend, int ioas, MemorySegment page, MemorySegment map, MemorySegment unmap, int n) {
        int mapFlags = IOMMU_IOAS_MAP_READABLE() | IOMMU_IOAS_MAP_WRITEABLE();
        long mapRequest = IOMMU_IOAS_MAP(), unmapRequest = IOMMU_IOAS_UNMAP();
        for (int i = 0; i < n; i++) {
            iommu_ioas_map.size(map, (int) iommu_ioas_map.sizeof());
            iommu_ioas_map.flags(map, mapFlags);
            iommu_ioas_map.ioas_id(map, ioas);
            iommu_ioas_map.user_va(map, page.address());
            iommu_ioas_map.length(map, 4096);
            iommu_ioas_map.iova(map, 0);
            check(backend.ioctl(mapRequest, map));
            iommu_ioas_unmap.size(unmap, (int) iommu_ioas_unmap.sizeof());
            iommu_ioas_unmap.ioas_id(unmap, ioas);
            iommu_ioas_unmap.iova(unmap, iommu_ioas_map.iova(map));
            iommu_ioas_unmap.length(unmap, 4096);
            check(backend.ioctl(unmapRequest, unmap));
        }
    }

    private static void check(int rc) {
        if (rc < 0) throw new IllegalStateException("software backend ioctl: -" + -rc);
    }
}
