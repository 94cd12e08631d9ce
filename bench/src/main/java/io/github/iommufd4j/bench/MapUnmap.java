package io.github.iommufd4j.bench;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.testing.Allocations;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The Java side of map_unmap.c through the typed API: map (kernel-chosen IOVA, read/write) and
 * unmap of one buffer in a loop on an IOAS with a mock domain attached. Measures time and bytes
 * allocated by this thread per pair after a warm-up.
 */
final class MapUnmap {
    record Result(double nsPerPair, double bytesPerPair) {}

    private MapUnmap() {}

    static Result run(Iommufd fd, long size, int pairs, int warmup, int warmupMillis) throws IommufdException {
        try (Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            fd.mock().addDevice(ioas);
            MemorySegment buffer = arena.allocate(size, 2 << 20); // zeroed, so populated: as in C
            long until = System.nanoTime() + warmupMillis * 1_000_000L;
            do loop(ioas, buffer, warmup); while (System.nanoTime() < until);
            long bytes = Allocations.currentThread();
            long t = System.nanoTime();
            loop(ioas, buffer, pairs);
            t = System.nanoTime() - t;
            bytes = Allocations.currentThread() - bytes;
            ioas.close();
            return new Result(t / (double) pairs, bytes / (double) pairs);
        }
    }

    private static void loop(Ioas ioas, MemorySegment buffer, int n) throws IommufdException {
        for (int i = 0; i < n; i++) {
            long iova = ioas.map(buffer, Access.READ_WRITE);
            ioas.unmap(iova, buffer.byteSize());
        }
    }
}
