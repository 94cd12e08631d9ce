package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_unmap;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Where a Java map+unmap pair's time goes (for the bench table): the same two ioctls as bare FFM
 * downcalls, then the library's steps added one at a time, each variant a real map+unmap loop
 * (a step timed alone, without the ioctls, is partly hoisted out of the loop by the JIT):
 * <ol>
 * <li>bare FFM without errno capture, the struct passed by address (the cheapest downcall);</li>
 * <li>+ errno capture into a buffer the loop keeps (what the library's calls do);</li>
 * <li>+ the call frames of {@link KernelCall}: the per-thread call stack and the busy marking of the IOAS;</li>
 * <li>+ the call's own struct ({@link KernelCall#structSetByCaller}, as {@link Ioas#map} uses it);</li>
 * <li>+ the ioctl through the call ({@link KernelCall#ioctl}: the backend, the failure test);</li>
 * <li>+ the memory checks and the memory kept while mapped ({@link KernelCall#kernelWrites}, {@link KernelCall#keepMemory});</li>
 * <li>the typed API itself ({@link Ioas#map}/{@link Ioas#unmap}): what it adds to the above is the rest
 *     (argument checks, JFR switches, the mapping bookkeeping: none for this buffer, global memory).</li>
 * </ol>
 * Two more for reference: the typed API with the same buffer seen through an automatic arena
 * (then each mapping has an entry in {@code MappedSegments} that keeps the segment reachable),
 * and bare FFM as a critical downcall.
 * In this package for the package-private parts; the bench runs on the class path.
 */
public final class MapUnmapCost {
    /**
     * Nanoseconds per pair of each variant, in the order of the class comment, and of bare FFM as
     * a critical downcall without errno capture ({@code critical}: no thread-state transition; not
     * for the library, as an ioctl may sleep while a critical call holds off the JVM's safepoints).
     */
    public record Result(double ffmNoErrno, double ffm, double frames, double struct, double call, double memory,
                         double api, double apiAuto, double critical) {
        /** What each step adds (the first: bare FFM without errno capture itself). */
        public double[] steps() {
            double[] all = {ffmNoErrno, ffm, frames, struct, call, memory, api};
            double[] d = new double[all.length];
            d[0] = all[0];
            for (int i = 1; i < all.length; i++) d[i] = all[i] - all[i - 1];
            return d;
        }
    }

    /** The names of {@link Result#steps()}. */
    public static final String[] STEPS = {"bare FFM without errno capture", "errno capture",
            "call frames (call stack, busy marking)", "struct set-up", "call dispatch", "memory checks and keeping",
            "rest of the typed API"};

    private static final int VARIANTS = 9;
    private static final int PLAIN = 0, CRITICAL = 1, ERRNO_CAPTURE = 2;
    private static final MethodHandle IOCTL, IOCTL_CRITICAL, IOCTL_ERRNO;
    private static final VarHandle ERRNO = Linker.Option.captureStateLayout().varHandle(MemoryLayout.PathElement.groupElement("errno"));

    static {
        Linker linker = Linker.nativeLinker();
        MemorySegment ioctl = linker.defaultLookup().find("ioctl").orElseThrow();
        FunctionDescriptor fd = FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
        Linker.Option variadic = Linker.Option.firstVariadicArg(2);
        IOCTL = linker.downcallHandle(ioctl, fd, variadic);
        IOCTL_CRITICAL = linker.downcallHandle(ioctl, fd, variadic, Linker.Option.critical(false));
        IOCTL_ERRNO = linker.downcallHandle(ioctl, fd, variadic, Linker.Option.captureCallState("errno"));
    }
    private static final int FLAGS = Access.READ_WRITE.flags;
    private static final String MAP = "IOMMU_IOAS_MAP", UNMAP = "IOMMU_IOAS_UNMAP";

    private MapUnmapCost() {}

    /** Each variant warmed up for {@code warmupMillis}, then {@code pairs} timed; {@code ioas} has a domain attached. */
    public static Result measure(Iommufd fd, Ioas ioas, MemorySegment buffer, int pairs, long warmupMillis) throws IommufdException {
        Loop loop = new Loop(ioas, fd.fd(), buffer);
        double[] ns = new double[VARIANTS];
        for (int v = 0; v < ns.length; v++) {
            long until = System.nanoTime() + warmupMillis * 1_000_000L;
            do loop.run(v, pairs / 4 + 1); while (System.nanoTime() < until);
            long t = System.nanoTime();
            loop.run(v, pairs);
            ns[v] = (System.nanoTime() - t) / (double) pairs;
        }
        return new Result(ns[0], ns[1], ns[2], ns[3], ns[4], ns[5], ns[6], ns[7], ns[8]);
    }

    private static final class Loop {
        final Ioas ioas;
        final int fd, ioasId;
        final MemorySegment buffer;
        final MemorySegment map = Arena.ofAuto().allocate(iommu_ioas_map.layout());
        final MemorySegment unmap = Arena.ofAuto().allocate(iommu_ioas_unmap.layout());
        /** The buffer seen through an automatic arena (which frees nothing of it: no cleanup action). */
        final MemorySegment autoBuffer;
        final MemorySegment capture = Arena.ofAuto().allocate(Linker.Option.captureStateLayout());
        final long mapRequest = Command.IOAS_MAP.request(), unmapRequest = Command.IOAS_UNMAP.request();

        Loop(Ioas ioas, int fd, MemorySegment buffer) {
            this.ioas = ioas;
            this.fd = fd;
            this.ioasId = ioas.id();
            this.buffer = buffer;
            this.autoBuffer = buffer.reinterpret(Arena.ofAuto(), null);
        }

        void run(int variant, int n) throws IommufdException {
            switch (variant) {
                case 0 -> { for (int i = 0; i < n; i++) ffm(PLAIN); }
                case 1 -> { for (int i = 0; i < n; i++) ffm(ERRNO_CAPTURE); }
                case 2 -> { for (int i = 0; i < n; i++) frames(); }
                case 3, 4, 5 -> { for (int i = 0; i < n; i++) steps(variant); }
                case 6 -> { for (int i = 0; i < n; i++) ioas.unmap(ioas.map(buffer, Access.READ_WRITE), buffer.byteSize()); }
                case 7 -> { for (int i = 0; i < n; i++) ioas.unmap(ioas.map(autoBuffer, Access.READ_WRITE), autoBuffer.byteSize()); }
                default -> { for (int i = 0; i < n; i++) ffm(CRITICAL); }
            }
        }

        /** What map_unmap.c does, through FFM: every field set per call; {@code mode}: which downcall. */
        void ffm(int mode) {
            long iova = mapIoctl(map, mode);
            unmapIoctl(unmap, iova, mode);
        }

        long mapIoctl(MemorySegment m, int mode) {
            iommu_ioas_map.size(m, (int) iommu_ioas_map.sizeof());
            fillMap(m);
            int rc = ioctl(mode, mapRequest, m);
            if (rc < 0) throw new IllegalStateException("IOMMU_IOAS_MAP failed: " + rc);
            return iommu_ioas_map.iova(m);
        }

        void unmapIoctl(MemorySegment u, long iova, int mode) {
            iommu_ioas_unmap.size(u, (int) iommu_ioas_unmap.sizeof());
            fillUnmap(u, iova);
            int rc = ioctl(mode, unmapRequest, u);
            if (rc < 0) throw new IllegalStateException("IOMMU_IOAS_UNMAP failed: " + rc);
        }

        /** The struct by address (kept alive by this loop): the result or -errno (0 without capture). */
        int ioctl(int mode, long request, MemorySegment struct) {
            try {
                if (mode == PLAIN) return (int) IOCTL.invokeExact(fd, request, struct.address());
                if (mode == CRITICAL) return (int) IOCTL_CRITICAL.invokeExact(fd, request, struct.address());
                int rc = (int) IOCTL_ERRNO.invokeExact(capture, fd, request, struct.address());
                return rc < 0 ? -(int) ERRNO.get(capture, 0L) : rc;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        void fillMap(MemorySegment m) {
            iommu_ioas_map.flags(m, FLAGS);
            iommu_ioas_map.ioas_id(m, ioasId);
            iommu_ioas_map.user_va(m, buffer.address());
            iommu_ioas_map.length(m, buffer.byteSize());
            iommu_ioas_map.iova(m, 0);
        }

        void fillUnmap(MemorySegment u, long iova) {
            iommu_ioas_unmap.ioas_id(u, ioasId);
            iommu_ioas_unmap.iova(u, iova);
            iommu_ioas_unmap.length(u, buffer.byteSize());
        }

        /** Bare FFM with errno capture, each ioctl inside a call frame holding the IOAS busy. */
        void frames() throws IommufdException {
            long iova;
            try (KernelCall k = KernelCall.begin(ioas, MAP)) {
                iova = mapIoctl(map, ERRNO_CAPTURE);
            }
            try (KernelCall k = KernelCall.begin(ioas, UNMAP)) {
                unmapIoctl(unmap, iova, ERRNO_CAPTURE);
            }
        }

        /** Steps 3 to 5: the call's struct (3), its ioctl (4), its memory (5). */
        void steps(int upTo) throws IommufdException {
            long iova;
            try (KernelCall k = KernelCall.begin(ioas, MAP)) {
                MemorySegment m = k.structSetByCaller(iommu_ioas_map.sizeof()); // as Ioas.map
                fillMap(m);
                iommu_ioas_map.__reserved(m, 0);
                if (upTo >= 5) iommu_ioas_map.user_va(m, k.kernelWrites(buffer, buffer.byteSize(), "memory"));
                if (upTo >= 4) {
                    k.ioctl(Command.IOAS_MAP, MapUnmapCost::noArgs);
                } else if (ioctl(ERRNO_CAPTURE, mapRequest, m) < 0) {
                    throw new IllegalStateException("IOMMU_IOAS_MAP failed");
                }
                iova = iommu_ioas_map.iova(m);
                if (upTo >= 5) k.keepMemory();
            }
            try (KernelCall k = KernelCall.begin(ioas, UNMAP)) {
                MemorySegment u = k.structSetByCaller(iommu_ioas_unmap.sizeof());
                fillUnmap(u, iova);
                if (upTo >= 4) {
                    k.ioctl(Command.IOAS_UNMAP, MapUnmapCost::noArgs);
                } else if (ioctl(ERRNO_CAPTURE, unmapRequest, u) < 0) {
                    throw new IllegalStateException("IOMMU_IOAS_UNMAP failed");
                }
            }
        }
    }

    private static String noArgs(MemorySegment s) {
        return "";
    }
}
