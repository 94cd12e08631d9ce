package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.Jfr;
import io.github.iommufd4j.internal.MappedSegments;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * An IO address space (IOMMU_IOAS_ALLOC): the map from IO virtual addresses (IOVAs, what a
 * device puts on the bus) to user memory, typically the guest's RAM at guest physical addresses.
 * Devices reach it through page tables ({@link HwPagetable}) made on it or through their auto
 * domain when attached to it directly.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=map}
 *
 * <p><b>Memory.</b> A segment passed to {@code map} must be native memory (not heap), readable,
 * and writable when the device may write ({@link Access#WRITE}); otherwise
 * {@link IllegalArgumentException} ({@link IllegalStateException} for a closed arena), before
 * any kernel call. The kernel pins its pages (charged
 * to {@code RLIMIT_MEMLOCK}, see {@link Iommufd#rlimitModeIsProcess()}). This handle keeps the
 * segment reachable until it is unmapped, so an automatic arena cannot free memory a device
 * still uses; closing an explicit arena under a live mapping is the caller's error (the pages
 * stay pinned, the device keeps reaching them). Memory of the global scope (e.g. guest RAM from
 * mmap(2) wrapped by {@link MemorySegment#ofAddress}) is never freed by the JVM and needs no such
 * entry on the native backend. Map and unmap allocate nothing per call beyond that bookkeeping
 * entry.
 *
 * <p><b>IOVAs</b> are unsigned 64-bit values; lengths are in bytes. Both must be multiples of
 * the IOAS alignment ({@link IovaRanges#alignment()}: the smallest page size of the attached
 * IOMMUs, e.g. 4 KiB on x86), else EINVAL.
 *
 * <p><b>Errors</b> name the command and the ids:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=errors}
 */
public final class Ioas extends Handle {
    private final int id;
    /** Mapped segments by IOVA: keeps them reachable while mapped (see class comment). */
    private final MappedSegments mapped = new MappedSegments();
    /** The scope of memory the JVM never frees (Arena.global()'s, MemorySegment.ofAddress's). */
    private static final MemorySegment.Scope GLOBAL = Arena.global().scope();

    Ioas(Iommufd iommufd, int id) {
        super(iommufd);
        this.id = id;
    }

    /**
     * The kernel's object id: what {@code pt_id} of attach and allocation commands takes.
     *
     * @return the IOAS id
     */
    public int id() {
        return id;
    }

    /**
     * IOMMU_IOAS_MAP at an IOVA the kernel chooses (inside the allowed ranges, outside the
     * reserved ones, aligned like the memory where it can).
     *
     * @param memory the memory to map: native, page aligned, its whole size mapped
     * @param access what devices may do through the mapping
     * @return the IOVA of the mapping's first byte
     * @throws IommufdException ENOSPC when no free IOVA range is large enough, EINVAL when the
     *         length is not a multiple of the IOAS alignment, and once a page table is attached
     *         (pages are pinned then): EFAULT for memory not mapped in the process, ENOMEM when
     *         pinning exceeds {@code RLIMIT_MEMLOCK}
     * @throws IllegalArgumentException for heap memory, or read-only memory the device may write
     * @throws IllegalStateException when the memory's arena is closed
     */
    public long map(MemorySegment memory, Access access) throws IommufdException {
        return map(memory, 0, access, false);
    }

    /**
     * IOMMU_IOAS_MAP at a fixed IOVA (FIXED_IOVA), e.g. at the guest physical address of this
     * piece of guest RAM.
     *
     * @param memory the memory to map: native, page aligned, its whole size mapped
     * @param iova   where to map it
     * @param access what devices may do through the mapping
     * @throws IommufdException EEXIST when part of the range is already mapped, EINVAL when it
     *         touches a reserved range or is unaligned, EOVERFLOW when it wraps, and once a page
     *         table is attached: EFAULT for memory not mapped in the process, ENOMEM when pinning
     *         exceeds {@code RLIMIT_MEMLOCK}
     * @throws IllegalArgumentException for heap memory, or read-only memory the device may write
     * @throws IllegalStateException when the memory's arena is closed
     */
    public void map(MemorySegment memory, long iova, Access access) throws IommufdException {
        map(memory, iova, access, true);
    }

    private long map(MemorySegment memory, long iova, Access access, boolean fixed) throws IommufdException {
        Objects.requireNonNull(access, "access");
        IoasMapEvent event = Jfr.on() ? IoasMapEvent.started() : null; // null unless a JFR recording wants it
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_MAP")) {
            MemorySegment s = k.structSetByCaller(iommu_ioas_map.sizeof()); // every field set here
            iommu_ioas_map.flags(s, access.flags | (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA() : 0));
            iommu_ioas_map.ioas_id(s, id);
            iommu_ioas_map.__reserved(s, 0);
            // A device writing through the mapping writes the memory: it must be writable.
            iommu_ioas_map.user_va(s, access.deviceWrites() ? k.kernelWrites(memory, memory.byteSize(), "memory")
                    : k.kernelReads(memory, memory.byteSize(), "memory"));
            iommu_ioas_map.length(s, memory.byteSize());
            iommu_ioas_map.iova(s, iova);
            k.ioctl(Command.IOAS_MAP, Ioas::mapArgs);
            long at = iommu_ioas_map.iova(s);
            if (keptWhileMapped(memory)) mapped.put(at, memory);
            k.keepMemory(); // registered while mapped
            if (event != null) IoasMapEvent.commit(event, id, at, memory.byteSize(), access, false);
            return at;
        }
    }

    /**
     * Whether a mapping of {@code memory} needs an entry in {@link #mapped}: to stay reachable (an
     * automatic arena's memory is freed once unreachable) or to be unregistered from a backend
     * that registers user memory (the software one reads it through the registered segment).
     * Global memory on the native backend needs neither: no entry, no lock per map and unmap.
     */
    private boolean keptWhileMapped(MemorySegment memory) {
        return !GLOBAL.equals(memory.scope()) || !(iommufd.raw() instanceof io.github.iommufd4j.internal.NativeBackend);
    }

    private static String mapArgs(MemorySegment s) {
        int flags = iommu_ioas_map.flags(s);
        return "ioas=" + iommu_ioas_map.ioas_id(s) + ", iova=" + ((flags & IOMMU_IOAS_MAP_FIXED_IOVA()) != 0 ? hex(iommu_ioas_map.iova(s)) : "auto")
                + ", length=" + hex(iommu_ioas_map.length(s)) + ", access=" + Access.describe(flags);
    }

    /**
     * IOMMU_IOAS_MAP_FILE (Linux 6.13+): maps {@code [start, start+length)} of a file (a memfd, or
     * a dma-buf) at an IOVA the kernel chooses (aligned like {@code start}). The kernel pins the
     * file's pages, not this process's mapping of them, so such mappings survive
     * {@link Iommufd#changeProcess()}. The caller keeps the fd (and may close it); the kernel holds
     * its own reference to the file while mapped. A dma-buf (e.g. a {@link MockDmabuf}) is not
     * pinned: the range must lie inside it (EINVAL), it must not be revoked (ENODEV), and its
     * mappings neither move with CHANGE_PROCESS nor serve accesses (EINVAL).
     *
     * @param fileFd the file's descriptor, still owned by the caller
     * @param start  offset in the file, in bytes (page aligned)
     * @param length bytes to map (page aligned)
     * @param access what devices may do through the mapping
     * @return the IOVA of the mapping's first byte
     * @throws IommufdException EBADF for a bad fd, EINVAL for a range beyond the file or unaligned,
     *         ENOSPC when no IOVA range is large enough, {@link UnsupportedCommandException} before 6.13
     */
    public long mapFile(int fileFd, long start, long length, Access access) throws IommufdException {
        return mapFile(fileFd, start, length, 0, access, false);
    }

    /**
     * IOMMU_IOAS_MAP_FILE at a fixed IOVA (FIXED_IOVA); see
     * {@link #mapFile(int, long, long, Access)}.
     *
     * @param fileFd the file's descriptor, still owned by the caller
     * @param start  offset in the file, in bytes (page aligned)
     * @param length bytes to map (page aligned)
     * @param iova   where to map it
     * @param access what devices may do through the mapping
     * @throws IommufdException EEXIST when part of the range is mapped, EBADF for a bad fd, EINVAL
     *         for a range beyond the file or unaligned
     */
    public void mapFile(int fileFd, long start, long length, long iova, Access access) throws IommufdException {
        mapFile(fileFd, start, length, iova, access, true);
    }

    /**
     * A physically contiguous run of mapped memory.
     *
     * @param address its first physical address
     * @param length  its length in bytes
     */
    public record PhysicalRun(long address, long length) {}

    private long mapFile(int fileFd, long start, long length, long iova, Access access, boolean fixed) throws IommufdException {
        Objects.requireNonNull(access, "access");
        IoasMapEvent event = Jfr.on() ? IoasMapEvent.started() : null;
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
            long at = iommu_ioas_map_file.iova(s);
            if (event != null) IoasMapEvent.commit(event, id, at, length, access, true);
            return at;
        }
    }

    /**
     * IOMMU_IOAS_NOIOMMU_GET_PA (Linux 7.3): the physical address behind {@code iova} and how many
     * bytes from there (at most {@code length}) are physically contiguous, for no-IOMMU devices
     * doing unsafe DMA.
     *
     * @param iova   a mapped IOVA
     * @param length the most bytes to report
     * @return the physical run
     * @throws IommufdException EOPNOTSUPP on kernels built without {@code CONFIG_IOMMUFD_NOIOMMU},
     *         ENOENT when nothing is mapped at {@code iova}
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

    /**
     * IOMMU_IOAS_UNMAP of the whole mappings inside {@code [iova, iova+length)}; a range that cuts
     * a mapping is refused. Our references to the unmapped memory are dropped.
     *
     * @param iova   the first IOVA of the range
     * @param length the range's length in bytes
     * @return the bytes unmapped
     * @throws IommufdException ENOENT when the range cuts a mapping or nothing is mapped there
     *         (whole mappings before the offending one may already be gone), EINVAL for length 0,
     *         EBUSY while a {@link HwQueue} holds a mapping
     */
    public long unmap(long iova, long length) throws IommufdException {
        IoasUnmapEvent event = Jfr.on() ? IoasUnmapEvent.started() : null; // null unless a JFR recording wants it
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_UNMAP")) {
            MemorySegment s = k.structSetByCaller(iommu_ioas_unmap.sizeof()); // every field set here
            iommu_ioas_unmap.ioas_id(s, id);
            iommu_ioas_unmap.iova(s, iova);
            iommu_ioas_unmap.length(s, length);
            k.ioctl(Command.IOAS_UNMAP, Ioas::unmapArgs);
            long removed = iommu_ioas_unmap.length(s);
            forgetUnmapped(iova, length, removed);
            if (event != null) IoasUnmapEvent.commit(event, id, iova, length, removed);
            return removed;
        }
    }

    private static String unmapArgs(MemorySegment s) {
        return "ioas=" + iommu_ioas_unmap.ioas_id(s) + ", iova=" + hex(iommu_ioas_unmap.iova(s)) + ", length=" + hex(iommu_ioas_unmap.length(s));
    }

    /**
     * IOMMU_IOAS_UNMAP of everything (iova 0, length U64_MAX).
     *
     * @return the bytes unmapped (0 when nothing was mapped)
     * @throws IommufdException EBUSY while a {@link HwQueue} holds a mapping
     */
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
        if (mapped.isEmptyUnlocked()) return; // e.g. only global memory mapped (see keptWhileMapped)
        MemorySegment exact = mapped.removeIfSize(iova, removed);
        if (exact != null) {
            iommufd.raw().unregisterMemory(exact);
            return;
        }
        long last = length == -1L ? -1L : iova + length - 1; // unmap-all passes U64_MAX
        mapped.removeWithin(iova, last, iommufd.raw()::unregisterMemory);
    }

    /**
     * IOMMU_IOAS_COPY: maps the memory mapped at {@code [srcIova, srcIova+length)} here into
     * {@code dst} as well, at an IOVA the kernel chooses, without pinning it again from user space
     * (e.g. to give a second device the same guest RAM). {@code dst} keeps the memory reachable too.
     *
     * @param dst     the IOAS to map into (may be this one)
     * @param srcIova the first IOVA of whole mappings here
     * @param length  bytes to copy
     * @param access  what devices may do through the new mapping
     * @return the IOVA in {@code dst}
     * @throws IommufdException ENOENT when the source range is not fully mapped, ENOSPC when
     *         {@code dst} has no room, EPERM for write access to memory mapped read-only
     */
    public long copyTo(Ioas dst, long srcIova, long length, Access access) throws IommufdException {
        return copy(dst, srcIova, length, 0, access, false);
    }

    /**
     * IOMMU_IOAS_COPY to a fixed IOVA in {@code dst}; see {@link #copyTo(Ioas, long, long, Access)}.
     *
     * @param dst     the IOAS to map into
     * @param srcIova the first IOVA of whole mappings here
     * @param length  bytes to copy
     * @param dstIova where to map them in {@code dst}
     * @param access  what devices may do through the new mapping
     * @throws IommufdException ENOENT when the source range is not fully mapped, EEXIST when the
     *         destination range is taken, EPERM for write access to memory mapped read-only
     */
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

    /**
     * What IOMMU_IOAS_IOVA_RANGES reports.
     *
     * @param ranges    the IOVA ranges outside every reserved range (attached IOMMUs' apertures,
     *                  reserved regions such as the MSI window), ascending; mappings and
     *                  {@link #allowIovas} do not change them
     * @param alignment the IOVA and length alignment every mapping needs, in bytes: 1 without
     *                  attached page tables, else the largest smallest page size among them
     */
    public record IovaRanges(List<IovaRange> ranges, long alignment) {}

    /**
     * IOMMU_IOAS_IOVA_RANGES: where mappings may go. Attaching a device can narrow them, so ask
     * after attaching.
     *
     * @return the usable ranges and the required alignment
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
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
                if (rc < 0) throw k.failed(Command.IOAS_IOVA_RANGES, "ioas=" + id + ", num_iovas=" + capacity, rc);
                List<IovaRange> out = new ArrayList<>(total);
                for (int i = 0; i < total; i++) {
                    MemorySegment r = iommu_iova_range.asSlice(array, i);
                    out.add(new IovaRange(iommu_iova_range.start(r), iommu_iova_range.last(r)));
                }
                return new IovaRanges(List.copyOf(out), iommu_ioas_iova_ranges.out_iova_alignment(s));
            }
        }
    }

    /**
     * IOMMU_IOAS_ALLOW_IOVAS: limits the IOVAs the kernel picks for {@link #map(MemorySegment, Access)}
     * to these ranges (fixed IOVAs are not limited), e.g. to keep automatic mappings away from the
     * guest's RAM layout.
     *
     * @param ranges inclusive ranges ({@code start < last}), not overlapping; empty removes the
     *               limit; existing mappings are not checked
     * @throws IommufdException EINVAL for overlapping ranges or one with {@code start >= last},
     *         EADDRINUSE when one intersects a reserved range (the old list stays)
     */
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

    /**
     * IOMMU_OPTION HUGE_PAGES GET.
     *
     * @return whether the IOAS may use huge IOMMU pages (true by default)
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
    public boolean hugePages() throws IommufdException {
        return iommufd.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_GET(), id, 0) == 1;
    }

    /**
     * IOMMU_OPTION HUGE_PAGES SET: with huge pages off, every mapping is made of base pages, so an
     * unmap may later cut any mapping (what the VFIO type1 API needs).
     *
     * @param enabled whether huge IOMMU pages may be used
     * @throws IommufdException EINVAL (turning them off) once the IOAS has both a page table and a
     *         mapping, EADDRINUSE when an existing mapping is not page aligned
     */
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

    /**
     * Names the IOAS by id.
     *
     * @return e.g. {@code Ioas[3]}
     */
    @Override
    public String toString() {
        return "Ioas[" + id + "]";
    }
}
