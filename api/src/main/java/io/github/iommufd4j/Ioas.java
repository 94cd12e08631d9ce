package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.MappedSegments;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * An IO address space (IOMMU_IOAS_ALLOC): user memory mapped at IO virtual addresses.
 *
 * <p>A segment passed to {@code map} is kept reachable by this handle until it is unmapped, so
 * an automatic arena cannot free memory the kernel (or a device) still uses. Map and unmap
 * allocate nothing per call beyond that bookkeeping entry.
 */
public final class Ioas extends Handle {
    private final int id;
    /** Mapped segments by IOVA: keeps them reachable while mapped (see class comment). */
    private final MappedSegments mapped = new MappedSegments();

    Ioas(Iommufd iommufd, int id) {
        super(iommufd);
        this.id = id;
    }

    /** The kernel's object id. */
    public int id() {
        return id;
    }

    /** IOMMU_IOAS_MAP at an IOVA the kernel chooses; returns it. */
    public long map(MemorySegment memory, Access access) throws IommufdException {
        return map(memory, 0, access, false);
    }

    /** IOMMU_IOAS_MAP at a fixed IOVA (FIXED_IOVA). */
    public void map(MemorySegment memory, long iova, Access access) throws IommufdException {
        map(memory, iova, access, true);
    }

    private long map(MemorySegment memory, long iova, Access access, boolean fixed) throws IommufdException {
        Objects.requireNonNull(access, "access");
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_MAP")) {
            MemorySegment s = k.struct(iommu_ioas_map.sizeof());
            iommu_ioas_map.flags(s, access.flags | (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA() : 0));
            iommu_ioas_map.ioas_id(s, id);
            // A device writing through the mapping writes the memory: it must be writable.
            iommu_ioas_map.user_va(s, access.deviceWrites() ? k.kernelWrites(memory, memory.byteSize(), "memory")
                    : k.kernelReads(memory, memory.byteSize(), "memory"));
            iommu_ioas_map.length(s, memory.byteSize());
            iommu_ioas_map.iova(s, iova);
            k.ioctl(Command.IOAS_MAP, Ioas::mapArgs);
            long at = iommu_ioas_map.iova(s);
            mapped.put(at, memory);
            k.keepMemory(); // registered while mapped
            return at;
        }
    }

    private static String mapArgs(MemorySegment s) {
        int flags = iommu_ioas_map.flags(s);
        return "ioas=" + iommu_ioas_map.ioas_id(s) + ", iova=" + ((flags & IOMMU_IOAS_MAP_FIXED_IOVA()) != 0 ? hex(iommu_ioas_map.iova(s)) : "auto")
                + ", length=" + hex(iommu_ioas_map.length(s)) + ", access=" + Access.describe(flags);
    }

    /**
     * IOMMU_IOAS_MAP_FILE (Linux 6.13+): maps {@code [start, start+length)} of a file (a memfd, or a
     * dma-buf) at an IOVA the kernel chooses (aligned like {@code start}); returns it. The kernel
     * pins the file's pages, not this process's mapping of them, so such mappings survive
     * {@link Iommufd#changeProcess()}. The caller keeps the fd; the kernel holds its own reference
     * to the file while mapped. A dma-buf (e.g. a {@link MockDmabuf}) is not pinned: the range
     * must lie inside it (EINVAL), it must not be revoked (ENODEV), and its mappings neither move
     * with CHANGE_PROCESS nor serve accesses (EINVAL).
     */
    public long mapFile(int fileFd, long start, long length, Access access) throws IommufdException {
        return mapFile(fileFd, start, length, 0, access, false);
    }

    /** IOMMU_IOAS_MAP_FILE at a fixed IOVA (FIXED_IOVA). */
    public void mapFile(int fileFd, long start, long length, long iova, Access access) throws IommufdException {
        mapFile(fileFd, start, length, iova, access, true);
    }

    /** A physically contiguous run: its first physical address and its length in bytes. */
    public record PhysicalRun(long address, long length) {}

    private long mapFile(int fileFd, long start, long length, long iova, Access access, boolean fixed) throws IommufdException {
        Objects.requireNonNull(access, "access");
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_MAP_FILE")) {
            MemorySegment s = k.struct(iommu_ioas_map_file.sizeof());
            iommu_ioas_map_file.flags(s, access.flags | (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA() : 0));
            iommu_ioas_map_file.ioas_id(s, id);
            iommu_ioas_map_file.fd(s, fileFd);
            iommu_ioas_map_file.start(s, start);
            iommu_ioas_map_file.length(s, length);
            iommu_ioas_map_file.iova(s, iova);
            k.ioctl(Command.IOAS_MAP_FILE, x -> {
                int flags = iommu_ioas_map_file.flags(x);
                return "ioas=" + iommu_ioas_map_file.ioas_id(x) + ", fd=" + iommu_ioas_map_file.fd(x) + ", start=" + hex(iommu_ioas_map_file.start(x))
                        + ", length=" + hex(iommu_ioas_map_file.length(x)) + ", iova="
                        + ((flags & IOMMU_IOAS_MAP_FIXED_IOVA()) != 0 ? hex(iommu_ioas_map_file.iova(x)) : "auto") + ", access=" + Access.describe(flags);
            });
            return iommu_ioas_map_file.iova(s);
        }
    }

    /**
     * IOMMU_IOAS_NOIOMMU_GET_PA (Linux 7.3): the physical address behind {@code iova} and how many
     * bytes from there (at most {@code length}) are physically contiguous, for no-IOMMU devices
     * doing unsafe DMA. Kernels built without {@code CONFIG_IOMMUFD_NOIOMMU} refuse it with
     * EOPNOTSUPP.
     */
    public PhysicalRun noiommuGetPa(long iova, long length) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_NOIOMMU_GET_PA")) {
            MemorySegment s = k.struct(iommu_ioas_noiommu_get_pa.sizeof());
            iommu_ioas_noiommu_get_pa.ioas_id(s, id);
            iommu_ioas_noiommu_get_pa.iova(s, iova);
            iommu_ioas_noiommu_get_pa.length(s, length);
            k.ioctl(Command.IOAS_NOIOMMU_GET_PA, x -> "ioas=" + iommu_ioas_noiommu_get_pa.ioas_id(x)
                    + ", iova=" + hex(iommu_ioas_noiommu_get_pa.iova(x)) + ", length=" + hex(iommu_ioas_noiommu_get_pa.length(x)));
            return new PhysicalRun(iommu_ioas_noiommu_get_pa.out_phys(s), iommu_ioas_noiommu_get_pa.length(s));
        }
    }

    /** IOMMU_IOAS_UNMAP of whole mappings inside {@code [iova, iova+length)}; returns the bytes unmapped. */
    public long unmap(long iova, long length) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_UNMAP")) {
            MemorySegment s = k.struct(iommu_ioas_unmap.sizeof());
            iommu_ioas_unmap.ioas_id(s, id);
            iommu_ioas_unmap.iova(s, iova);
            iommu_ioas_unmap.length(s, length);
            k.ioctl(Command.IOAS_UNMAP, Ioas::unmapArgs);
            long removed = iommu_ioas_unmap.length(s);
            forgetUnmapped(iova, length, removed);
            return removed;
        }
    }

    private static String unmapArgs(MemorySegment s) {
        return "ioas=" + iommu_ioas_unmap.ioas_id(s) + ", iova=" + hex(iommu_ioas_unmap.iova(s)) + ", length=" + hex(iommu_ioas_unmap.length(s));
    }

    /** IOMMU_IOAS_UNMAP of everything (iova 0, length U64_MAX); returns the bytes unmapped. */
    public long unmapAll() throws IommufdException {
        return unmap(0, -1L);
    }

    /**
     * Drops our references to the mappings a successful unmap removed: the kernel removes only
     * whole areas, all those inside the range. The common case, one mapping unmapped by its own
     * IOVA and size, is a single lookup. (A failed unmap may also have removed some areas before
     * refusing; their segments stay referenced until close, which is safe.)
     */
    private void forgetUnmapped(long iova, long length, long removed) {
        MemorySegment exact = mapped.get(iova);
        if (exact != null && exact.byteSize() == removed) {
            mapped.remove(iova);
            iommufd.raw().unregisterMemory(exact);
            return;
        }
        long last = length == -1L ? -1L : iova + length - 1; // unmap-all passes U64_MAX
        mapped.removeWithin(iova, last, iommufd.raw()::unregisterMemory);
    }

    /** IOMMU_IOAS_COPY: maps what is mapped at {@code [srcIova, +length)} here into {@code dst}; returns the IOVA in dst. */
    public long copyTo(Ioas dst, long srcIova, long length, Access access) throws IommufdException {
        return copy(dst, srcIova, length, 0, access, false);
    }

    /** IOMMU_IOAS_COPY to a fixed IOVA in {@code dst}. */
    public void copyTo(Ioas dst, long srcIova, long length, long dstIova, Access access) throws IommufdException {
        copy(dst, srcIova, length, dstIova, access, true);
    }

    private long copy(Ioas dst, long srcIova, long length, long dstIova, Access access, boolean fixed) throws IommufdException {
        Objects.requireNonNull(access, "access");
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_COPY")) {
            if (dst != this) k.hold(dst);
            MemorySegment s = k.struct(iommu_ioas_copy.sizeof());
            iommu_ioas_copy.flags(s, access.flags | (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA() : 0));
            iommu_ioas_copy.dst_ioas_id(s, dst.id);
            iommu_ioas_copy.src_ioas_id(s, id);
            iommu_ioas_copy.length(s, length);
            iommu_ioas_copy.dst_iova(s, dstIova);
            iommu_ioas_copy.src_iova(s, srcIova);
            k.ioctl(Command.IOAS_COPY, x -> "src_ioas=" + iommu_ioas_copy.src_ioas_id(x) + ", src_iova=" + hex(iommu_ioas_copy.src_iova(x))
                    + ", length=" + hex(iommu_ioas_copy.length(x)) + ", dst_ioas=" + iommu_ioas_copy.dst_ioas_id(x) + ", dst_iova="
                    + ((iommu_ioas_copy.flags(x) & IOMMU_IOAS_MAP_FIXED_IOVA()) != 0 ? hex(iommu_ioas_copy.dst_iova(x)) : "auto"));
            long at = iommu_ioas_copy.dst_iova(s);
            dst.keepCopied(this, srcIova, length, at);
            return at;
        }
    }

    /**
     * A copy maps the source's memory in this IOAS too (the kernel pins it for the new areas), so
     * this IOAS keeps those segments reachable until they are unmapped here, one entry per source
     * mapping crossed, as the kernel makes one area per source area.
     */
    private void keepCopied(Ioas src, long srcIova, long length, long dstIova) {
        long srcLast = srcIova + length - 1;
        for (var e : src.mapped.overlapping(srcIova, srcLast)) {
            long iova = e.getKey();
            MemorySegment seg = e.getValue();
            long from = Long.compareUnsigned(iova, srcIova) >= 0 ? iova : srcIova;
            long segLast = iova + seg.byteSize() - 1;
            long to = Long.compareUnsigned(segLast, srcLast) <= 0 ? segLast : srcLast;
            MemorySegment part = seg.asSlice(from - iova, to - from + 1);
            mapped.put(dstIova + (from - srcIova), part);
            iommufd.raw().registerMemory(part);
        }
    }

    /** The usable IOVA ranges and the required IOVA alignment (IOMMU_IOAS_IOVA_RANGES). */
    public record IovaRanges(List<IovaRange> ranges, long alignment) {}

    /** IOMMU_IOAS_IOVA_RANGES; grows its buffer when the kernel answers EMSGSIZE. */
    public IovaRanges iovaRanges() throws IommufdException {
        for (int capacity = 8; ; ) {
            try (Arena arena = Arena.ofConfined(); KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_IOVA_RANGES")) {
                MemorySegment array = arena.allocate(iommu_iova_range.layout(), capacity);
                MemorySegment s = k.struct(iommu_ioas_iova_ranges.sizeof());
                iommu_ioas_iova_ranges.ioas_id(s, id);
                iommu_ioas_iova_ranges.num_iovas(s, capacity);
                iommu_ioas_iova_ranges.allowed_iovas(s, k.kernelWrites(array, array.byteSize(), "ranges"));
                int rc = k.rawIoctl(Command.IOAS_IOVA_RANGES.request(), s);
                int total = iommu_ioas_iova_ranges.num_iovas(s);
                if (rc == -KernelCall.EMSGSIZE && total > capacity) {
                    capacity = total;
                    continue;
                }
                if (rc < 0) throw Iommufd.failure(Command.IOAS_IOVA_RANGES, "ioas=" + id + ", num_iovas=" + capacity, rc);
                List<IovaRange> out = new ArrayList<>(total);
                for (int i = 0; i < total; i++) {
                    MemorySegment r = iommu_iova_range.asSlice(array, i);
                    out.add(new IovaRange(iommu_iova_range.start(r), iommu_iova_range.last(r)));
                }
                return new IovaRanges(List.copyOf(out), iommu_ioas_iova_ranges.out_iova_alignment(s));
            }
        }
    }

    /** IOMMU_IOAS_ALLOW_IOVAS: limits automatic IOVA allocation to these ranges (empty: no limit). */
    public void allowIovas(List<IovaRange> ranges) throws IommufdException {
        try (Arena arena = Arena.ofConfined(); KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_ALLOW_IOVAS")) {
            MemorySegment array = arena.allocate(iommu_iova_range.layout(), Math.max(1, ranges.size()));
            for (int i = 0; i < ranges.size(); i++) {
                MemorySegment r = iommu_iova_range.asSlice(array, i);
                iommu_iova_range.start(r, ranges.get(i).start());
                iommu_iova_range.last(r, ranges.get(i).last());
            }
            MemorySegment s = k.struct(iommu_ioas_allow_iovas.sizeof());
            iommu_ioas_allow_iovas.ioas_id(s, id);
            iommu_ioas_allow_iovas.num_iovas(s, ranges.size());
            iommu_ioas_allow_iovas.allowed_iovas(s, k.kernelReads(array, array.byteSize(), "ranges"));
            k.ioctl(Command.IOAS_ALLOW_IOVAS, x -> "ioas=" + id + ", ranges=" + ranges);
        }
    }

    /** IOMMU_OPTION HUGE_PAGES GET: whether huge IOMMU pages may be used for this IOAS. */
    public boolean hugePages() throws IommufdException {
        return iommufd.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_GET(), id, 0) == 1;
    }

    /** IOMMU_OPTION HUGE_PAGES SET. */
    public void setHugePages(boolean enabled) throws IommufdException {
        iommufd.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), id, enabled ? 1 : 0);
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    @Override
    void release() throws IommufdException {
        iommufd.destroy(id);
        mapped.removeWithin(0, -1L, iommufd.raw()::unregisterMemory);
    }

    @Override
    String describe() {
        return "ioas=" + id;
    }

    @Override
    public String toString() {
        return "Ioas[" + id + "]";
    }
}
