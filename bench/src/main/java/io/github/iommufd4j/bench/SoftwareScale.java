package io.github.iommufd4j.bench;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The software backend at scale: {@code n} 4 KiB mappings (kernel-chosen IOVAs) of one page
 * through the typed API, reporting the heap they take (used heap after full GCs, before and
 * after) and the time per map.
 */
final class SoftwareScale {
    record Result(int mappings, double heapMiB, double nsPerMap) {}

    private SoftwareScale() {}

    static Result run(int n) throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            MemorySegment page = arena.allocate(4096, 4096);
            long before = usedHeap();
            long t = System.nanoTime();
            for (int i = 0; i < n; i++) ioas.map(page, Access.READ_WRITE);
            t = System.nanoTime() - t;
            long heap = usedHeap() - before;
            if (ioas.unmapAll() != 4096L * n) throw new IllegalStateException("not every mapping was made");
            return new Result(n, heap / 1048576.0, t / (double) n);
        }
    }

    /**
     * Used heap once it has settled: full GCs until it stops shrinking. Memory of automatic arenas
     * from earlier benchmarks is released by the Cleaner thread after a GC, so a single reading
     * could come before it and make the mappings' footprint look negative.
     */
    static long usedHeap() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        long last = Long.MAX_VALUE;
        for (int i = 0; i < 20; i++) {
            System.gc();
            Thread.sleep(20);
            long used = rt.totalMemory() - rt.freeMemory();
            if (used >= last - (64 << 10)) return Math.min(used, last);
            last = used;
        }
        return last;
    }
}
