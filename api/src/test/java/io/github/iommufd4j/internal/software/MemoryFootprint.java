package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP;
import static io.github.iommufd4j.internal.software.Raw.*;

/**
 * Heap per mapping for 1M mappings and lookup speed (on demand: {@code -Dsw.footprint=true}).
 * Prints bytes per mapping for the areas alone and with one memory registration per mapping (as
 * the typed API does), and translate() lookups per second on one thread.
 */
class MemoryFootprint {
    static final int N = 1_000_000;

    @Test
    @EnabledIfSystemProperty(named = "sw.footprint", matches = "true")
    void heapPerMapping() {
        try (Raw raw = new Raw()) {
            int ioas = raw.ioas();
            MemorySegment mem = raw.buffer(64 * PAGE);
            MemorySegment s = raw.struct(iommu_ioas_map.sizeof());
            long before = used();
            long t0 = System.nanoTime();
            for (int i = 0; i < N; i++) {
                s.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, (int) iommu_ioas_map.sizeof());
                iommu_ioas_map.flags(s, RW);
                iommu_ioas_map.ioas_id(s, ioas);
                iommu_ioas_map.user_va(s, mem.address() + (i % 64) * PAGE);
                iommu_ioas_map.length(s, PAGE);
                iommu_ioas_map.iova(s, 0);
                check(raw.b.ioctl(IOMMU_IOAS_MAP(), s));
            }
            long t1 = System.nanoTime();
            long areas = used() - before;
            MemorySegment[] slices = new MemorySegment[N]; // the caller holds these anyway
            for (int i = 0; i < N; i++) slices[i] = mem.asSlice(i % 65536, 1 + i / 65536);
            long withSlices = used();
            for (MemorySegment slice : slices) raw.b.registerMemory(slice);
            long registry = used() - withSlices;
            long sum = 0;
            long t2 = System.nanoTime();
            for (int r = 0; r < 10; r++) {
                for (int i = 0; i < N; i++) sum += raw.b.translate(ioas, 0x1000 + (long) i * PAGE + 8, false);
            }
            long t3 = System.nanoTime();
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
            long t4 = System.nanoTime();
            for (int i = 0; i < 10 * N; i++) sum += raw.b.translate(ioas, 0x1000 + rnd.nextLong(N) * PAGE, false);
            long t5 = System.nanoTime();
            System.out.printf("1M automatic maps: %.0f ns/map; heap %.1f B/mapping (areas) + %.1f B/registration; "
                    + "translate %.1f M/s sequential, %.1f M/s random (%d)%n", (t1 - t0) / (double) N, areas / (double) N,
                    registry / (double) N, 10.0 * N / ((t3 - t2) / 1e3), 10.0 * N / ((t5 - t4) / 1e3), sum & 1);
            check(raw.unmap(ioas, 0, -1L));
            if (raw.length != (long) N * PAGE) throw new AssertionError(raw.length);
        }
    }

    static long used() {
        for (int i = 0; i < 3; i++) System.gc();
        return Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
    }
}
