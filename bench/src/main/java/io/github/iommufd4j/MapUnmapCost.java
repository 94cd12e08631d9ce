package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_unmap;
import io.github.iommufd4j.internal.MappedSegments;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Where a Java map+unmap pair's time goes (for the bench table): the typed API against the same
 * two ioctls as bare FFM downcalls, with and without errno capture, and the library's own steps
 * run alone: the call frame of {@link KernelCall} (per-thread call stack, busy marking of the
 * IOAS, struct set-up), the memory checks and the {@link MappedSegments} bookkeeping. In this
 * package for the package-private parts; the bench runs on the class path.
 */
public final class MapUnmapCost {
    /** Nanoseconds per pair of each. */
    public record Result(double api, double ffm, double ffmNoErrno, double frame, double check, double bookkeeping) {}

    private static final int FLAGS = Access.READ_WRITE.flags;
    private static long sink;

    private MapUnmapCost() {}

    /** Each variant warmed up for {@code warmupMillis}, then {@code pairs} timed; {@code ioas} has a domain attached. */
    public static Result measure(Iommufd fd, Ioas ioas, MemorySegment buffer, int pairs, long warmupMillis) throws IommufdException {
        int iommufd = fd.fd();
        MemorySegment map = Arena.ofAuto().allocate(iommu_ioas_map.layout());
        MemorySegment unmap = Arena.ofAuto().allocate(iommu_ioas_unmap.layout());
        MappedSegments segments = new MappedSegments();
        double[] ns = new double[6];
        for (int v = 0; v < ns.length; v++) {
            long until = System.nanoTime() + warmupMillis * 1_000_000L;
            do run(v, ioas, iommufd, map, unmap, segments, buffer, pairs / 4 + 1); while (System.nanoTime() < until);
            long t = System.nanoTime();
            run(v, ioas, iommufd, map, unmap, segments, buffer, pairs);
            ns[v] = (System.nanoTime() - t) / (double) pairs;
        }
        return new Result(ns[0], ns[1], ns[2], ns[3], ns[4], ns[5]);
    }

    private static void run(int variant, Ioas ioas, int fd, MemorySegment map, MemorySegment unmap, MappedSegments segments,
                            MemorySegment buffer, int n) throws IommufdException {
        switch (variant) {
            case 0 -> api(ioas, buffer, n);
            case 1 -> ffm(ioas.id(), fd, map, unmap, buffer, n, true);
            case 2 -> ffm(ioas.id(), fd, map, unmap, buffer, n, false);
            case 3 -> frame(ioas, buffer, n);
            case 4 -> check(buffer, n);
            default -> bookkeeping(segments, buffer, n);
        }
    }

    private static void api(Ioas ioas, MemorySegment buffer, int n) throws IommufdException {
        for (int i = 0; i < n; i++) ioas.unmap(ioas.map(buffer, Access.READ_WRITE), buffer.byteSize());
    }

    /** What map_unmap.c does, through FFM: every field set per call. */
    private static void ffm(int ioasId, int fd, MemorySegment m, MemorySegment u, MemorySegment buffer, int n, boolean errno) {
        long mapRequest = Command.IOAS_MAP.request(), unmapRequest = Command.IOAS_UNMAP.request();
        for (int i = 0; i < n; i++) {
            iommu_ioas_map.size(m, (int) iommu_ioas_map.sizeof());
            iommu_ioas_map.flags(m, FLAGS);
            iommu_ioas_map.ioas_id(m, ioasId);
            iommu_ioas_map.user_va(m, buffer.address());
            iommu_ioas_map.length(m, buffer.byteSize());
            iommu_ioas_map.iova(m, 0);
            int rc = errno ? Libc.ioctl(fd, mapRequest, m) : Libc.ioctlNoErrno(fd, mapRequest, m);
            if (rc < 0) throw new IllegalStateException("IOMMU_IOAS_MAP failed: " + rc);
            iommu_ioas_unmap.size(u, (int) iommu_ioas_unmap.sizeof());
            iommu_ioas_unmap.ioas_id(u, ioasId);
            iommu_ioas_unmap.iova(u, iommu_ioas_map.iova(m));
            iommu_ioas_unmap.length(u, buffer.byteSize());
            rc = errno ? Libc.ioctl(fd, unmapRequest, u) : Libc.ioctlNoErrno(fd, unmapRequest, u);
            if (rc < 0) throw new IllegalStateException("IOMMU_IOAS_UNMAP failed: " + rc);
        }
    }

    /** Two call frames with their structs filled, no ioctl: the per-thread stack, busy marking, struct set-up. */
    private static void frame(Ioas ioas, MemorySegment buffer, int n) throws IommufdException {
        long s = 0;
        for (int i = 0; i < n; i++) {
            try (KernelCall k = KernelCall.begin(ioas, "IOMMU_IOAS_MAP")) {
                MemorySegment m = k.struct(iommu_ioas_map.sizeof());
                iommu_ioas_map.flags(m, FLAGS);
                iommu_ioas_map.ioas_id(m, ioas.id());
                iommu_ioas_map.user_va(m, buffer.address());
                iommu_ioas_map.length(m, buffer.byteSize());
                iommu_ioas_map.iova(m, 0);
                s += iommu_ioas_map.iova(m);
            }
            try (KernelCall k = KernelCall.begin(ioas, "IOMMU_IOAS_UNMAP")) {
                MemorySegment u = k.struct(iommu_ioas_unmap.sizeof());
                iommu_ioas_unmap.ioas_id(u, ioas.id());
                iommu_ioas_unmap.iova(u, s);
                iommu_ioas_unmap.length(u, buffer.byteSize());
                s += iommu_ioas_unmap.length(u);
            }
        }
        sink += s;
    }

    /** The memory checks of a map (alive, native, large enough, writable). */
    private static void check(MemorySegment buffer, int n) {
        for (int i = 0; i < n; i++) KernelCall.check("IOMMU_IOAS_MAP", buffer, buffer.byteSize(), true, "memory");
    }

    /** A map's put and an unmap's lookup and removal. */
    private static void bookkeeping(MappedSegments segments, MemorySegment buffer, int n) {
        long iova = 1L << 32;
        for (int i = 0; i < n; i++) {
            segments.put(iova, buffer);
            MemorySegment exact = segments.get(iova);
            if (exact != null && exact.byteSize() == buffer.byteSize()) segments.remove(iova);
        }
    }
}
