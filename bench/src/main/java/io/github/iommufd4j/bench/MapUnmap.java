package io.github.iommufd4j.bench;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.testing.Allocations;
import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;

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
        return run(fd, size, pairs, warmup, warmupMillis, true);
    }

    /** As {@link #run(Iommufd, long, int, int, int)}, without the mock domain when {@code !domain} (nothing is pinned). */
    static Result run(Iommufd fd, long size, int pairs, int warmup, int warmupMillis, boolean domain) throws IommufdException {
        long region = size + HUGE;
        long addr = Libc.mmap(0, region, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (addr < 0) throw new IllegalStateException("mmap: " + Errno.name((int) -addr));
        try {
            // As map_unmap.c: anonymous memory aligned to 2 MiB, MADV_HUGEPAGE, populated by
            // writing zeros. Without the advice the kernel backs a 2 MiB buffer with a huge page
            // or with 512 small pages depending on free memory, which moved the ratio 1.3-6x.
            long aligned = (addr + HUGE - 1) & -HUGE;
            Libc.madvise(aligned, size, Libc.MADV_HUGEPAGE);
            MemorySegment buffer = MemorySegment.ofAddress(aligned).reinterpret(size);
            buffer.fill((byte) 0);
            return measure(fd, buffer, pairs, warmup, warmupMillis, domain);
        } finally {
            Libc.munmap(addr, region);
        }
    }

    private static final long HUGE = 2 << 20;

    private static Result measure(Iommufd fd, MemorySegment buffer, int pairs, int warmup, int warmupMillis, boolean domain)
            throws IommufdException {
        Ioas ioas = fd.allocIoas();
        if (domain) fd.mock().addDevice(ioas);
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

    private static void loop(Ioas ioas, MemorySegment buffer, int n) throws IommufdException {
        for (int i = 0; i < n; i++) {
            long iova = ioas.map(buffer, Access.READ_WRITE);
            ioas.unmap(iova, buffer.byteSize());
        }
    }
}
