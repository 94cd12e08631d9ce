package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.vfio_info_cap_header;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_map;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_unmap;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info_cap_iova_range;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info_dma_avail;
import io.github.iommufd4j.bindings.uapi.vfio_iova_range;
import io.github.iommufd4j.internal.MappedSegments;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * The VFIO type1 container ioctls that iommufd answers on its own fd, for VMMs written against
 * the legacy VFIO container API ({@code drivers/iommu/iommufd/vfio_compat.c}). They work on the
 * compat IOAS ({@link Iommufd#setVfioCompatIoas}); without one most fail with ENODEV. Obtained
 * from {@link Iommufd#vfioCompat()}; thread-safe.
 *
 * <p>Segments given to {@link #mapDma} stay reachable until an unmap removes the whole of them
 * (or the iommufd closes); a TYPE1 unmap of part of one keeps it.
 */
public final class VfioCompat {
    /** {@code VFIO_API_VERSION}: what {@link #apiVersion()} returns. */
    public static final int API_VERSION = Uapi.VFIO_API_VERSION();
    /** IOMMU types and extensions ({@link #checkExtension}, {@link #setIommu}). */
    public static final long TYPE1_IOMMU = Uapi.VFIO_TYPE1_IOMMU(), TYPE1v2_IOMMU = Uapi.VFIO_TYPE1v2_IOMMU(),
            DMA_CC_IOMMU = Uapi.VFIO_DMA_CC_IOMMU(), NOIOMMU_IOMMU = Uapi.VFIO_NOIOMMU_IOMMU(),
            UNMAP_ALL = Uapi.VFIO_UNMAP_ALL(), UPDATE_VADDR = Uapi.VFIO_UPDATE_VADDR();
    /** {@link #mapDma} flags: the device may read / write the memory. */
    public static final int MAP_READ = Uapi.VFIO_DMA_MAP_FLAG_READ(), MAP_WRITE = Uapi.VFIO_DMA_MAP_FLAG_WRITE();
    /** {@link #unmapDma(long, long, int)} flag: everything (iova and size must be 0). */
    public static final int UNMAP_FLAG_ALL = Uapi.VFIO_DMA_UNMAP_FLAG_ALL();
    /** {@link Info#flags()} bits. */
    public static final int INFO_PGSIZES = Uapi.VFIO_IOMMU_INFO_PGSIZES(), INFO_CAPS = Uapi.VFIO_IOMMU_INFO_CAPS();

    private final Iommufd iommufd;
    /** Segments mapped through {@link #mapDma}, by IOVA (see class comment). */
    private final MappedSegments mapped = new MappedSegments();
    /** Segments displaced from {@link #mapped} while part of them may still be mapped: kept until unmapAll. */
    private final List<MemorySegment> cutOff = new ArrayList<>();

    VfioCompat(Iommufd iommufd) {
        this.iommufd = iommufd;
    }

    /**
     * VFIO_GET_API_VERSION.
     *
     * @return {@link #API_VERSION} (0)
     * @throws IommufdException EBADF "handle is closed" after the iommufd is closed
     */
    public int apiVersion() throws IommufdException {
        return call("VFIO_GET_API_VERSION", Uapi.VFIO_GET_API_VERSION(), MemorySegment.NULL, "");
    }

    /**
     * VFIO_CHECK_EXTENSION: whether this iommufd offers a VFIO IOMMU type or extension. iommufd has
     * TYPE1, TYPE1v2 and UNMAP_ALL; DMA_CC_IOMMU when every page table of the compat IOAS enforces
     * cache coherency; not NOIOMMU (unless so configured) nor UPDATE_VADDR.
     *
     * @param extension e.g. {@link #TYPE1v2_IOMMU}, {@link #UNMAP_ALL}, {@link #DMA_CC_IOMMU}
     * @return 1 if supported, else 0
     * @throws IommufdException ENODEV for DMA_CC_IOMMU without a compat IOAS
     */
    public int checkExtension(long extension) throws IommufdException {
        return call("VFIO_CHECK_EXTENSION", Uapi.VFIO_CHECK_EXTENSION(), MemorySegment.ofAddress(extension),
                "extension=" + extension);
    }

    /**
     * VFIO_SET_IOMMU: selects the type1 flavour. TYPE1 turns off huge pages in the compat IOAS so
     * that an unmap may cut a mapping; TYPE1v2 unmaps whole mappings only.
     *
     * @param type {@link #TYPE1_IOMMU} or {@link #TYPE1v2_IOMMU}
     * @throws IommufdException EINVAL for another type (or TYPE1 once a page table holds mappings),
     *         ENODEV without a compat IOAS
     */
    public void setIommu(long type) throws IommufdException {
        call("VFIO_SET_IOMMU", Uapi.VFIO_SET_IOMMU(), MemorySegment.ofAddress(type), "type=" + type);
    }

    /**
     * VFIO_IOMMU_MAP_DMA: maps {@code memory} at the fixed {@code iova} in the compat IOAS. The
     * segment stays reachable until an unmap removes the whole of it.
     *
     * @param memory native memory, page aligned; writable when the device may write
     * @param iova   where to map it
     * @param access what devices may do through the mapping
     * @throws IommufdException ENODEV without a compat IOAS, EEXIST when the range is taken, EINVAL
     *         when unaligned, ENOMEM beyond {@code RLIMIT_MEMLOCK}
     * @throws IllegalArgumentException for heap memory, or read-only memory the device may write
     * @throws IllegalStateException when the memory's arena is closed
     */
    public void mapDma(MemorySegment memory, long iova, Access access) throws IommufdException {
        mapDma(memory, iova, switch (access) {
            case READ -> MAP_READ;
            case WRITE -> MAP_WRITE;
            case READ_WRITE -> MAP_READ | MAP_WRITE;
        });
    }

    /**
     * VFIO_IOMMU_MAP_DMA with raw flags, always at the fixed {@code iova}.
     *
     * @param memory native memory, page aligned; writable with {@link #MAP_WRITE}
     * @param iova   where to map it
     * @param flags  {@link #MAP_READ} | {@link #MAP_WRITE}; 0 maps memory no device may touch (7.x
     *               refuses that with EINVAL once a page table is attached); others are EINVAL
     * @throws IommufdException ENODEV without a compat IOAS, EEXIST when the range is taken, EINVAL
     *         for unknown flags or misalignment
     * @throws IllegalArgumentException for heap memory, or read-only memory with MAP_WRITE
     * @throws IllegalStateException when the memory's arena is closed
     */
    public void mapDma(MemorySegment memory, long iova, int flags) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "VFIO_IOMMU_MAP_DMA")) {
            MemorySegment s = k.struct(vfio_iommu_type1_dma_map.sizeof());
            vfio_iommu_type1_dma_map.flags(s, flags);
            vfio_iommu_type1_dma_map.vaddr(s, (flags & MAP_WRITE) != 0 ? k.kernelWrites(memory, memory.byteSize(), "memory")
                    : k.kernelReads(memory, memory.byteSize(), "memory"));
            vfio_iommu_type1_dma_map.iova(s, iova);
            vfio_iommu_type1_dma_map.size(s, memory.byteSize());
            k.ioctl(Uapi.VFIO_IOMMU_MAP_DMA(), s, x -> "iova=" + Ioas.hex(vfio_iommu_type1_dma_map.iova(x))
                    + ", size=" + Ioas.hex(vfio_iommu_type1_dma_map.size(x)) + ", flags=0x" + Integer.toHexString(vfio_iommu_type1_dma_map.flags(x)));
            MemorySegment old = mapped.get(iova);
            if (old != null) { // a TYPE1 unmap cut off its start: the rest may still be mapped
                synchronized (cutOff) {
                    cutOff.add(old);
                }
            }
            mapped.put(iova, memory);
            k.keepMemory(); // registered while mapped
        }
    }

    /**
     * VFIO_IOMMU_UNMAP_DMA of {@code [iova, iova+size)}. Unlike {@link Ioas#unmap}, unmapping
     * nothing succeeds. TYPE1 cuts mappings at the range's ends; TYPE1v2 refuses a range that covers
     * part of a mapping.
     *
     * @param iova the first IOVA
     * @param size bytes
     * @return the bytes unmapped (0 when nothing was mapped there)
     * @throws IommufdException ENOENT (TYPE1v2) when the range covers part of a mapping, ENODEV
     *         without a compat IOAS
     */
    public long unmapDma(long iova, long size) throws IommufdException {
        return unmapDma(iova, size, 0);
    }

    /**
     * VFIO_IOMMU_UNMAP_DMA with {@link #UNMAP_FLAG_ALL}: unmaps everything.
     *
     * @return the bytes unmapped
     * @throws IommufdException ENODEV without a compat IOAS
     */
    public long unmapAll() throws IommufdException {
        return unmapDma(0, 0, UNMAP_FLAG_ALL);
    }

    /**
     * VFIO_IOMMU_UNMAP_DMA with raw flags. The kernel writes back the bytes unmapped even when the
     * unmap fails part way: the exception's arguments carry them ({@code unmapped=}).
     *
     * @param iova  the first IOVA (0 with {@link #UNMAP_FLAG_ALL})
     * @param size  bytes (0 with {@link #UNMAP_FLAG_ALL})
     * @param flags 0 or {@link #UNMAP_FLAG_ALL}
     * @return the bytes unmapped
     * @throws IommufdException EINVAL for unknown flags or FLAG_ALL with a range, ENOENT (TYPE1v2) for
     *         a partial overlap, ENODEV without a compat IOAS
     */
    public long unmapDma(long iova, long size, int flags) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "VFIO_IOMMU_UNMAP_DMA")) {
            MemorySegment s = k.struct(vfio_iommu_type1_dma_unmap.sizeof());
            vfio_iommu_type1_dma_unmap.flags(s, flags);
            vfio_iommu_type1_dma_unmap.iova(s, iova);
            vfio_iommu_type1_dma_unmap.size(s, size);
            int rc = k.rawIoctl(Uapi.VFIO_IOMMU_UNMAP_DMA(), s);
            long unmapped = vfio_iommu_type1_dma_unmap.size(s);
            if (rc < 0) {
                throw k.failed("iova=" + Ioas.hex(iova) + ", size=" + Ioas.hex(size)
                        + ", flags=0x" + Integer.toHexString(flags) + ", unmapped=" + Ioas.hex(unmapped), -rc);
            }
            if (unmapped != 0) {
                boolean all = (flags & UNMAP_FLAG_ALL) != 0;
                mapped.removeWithin(all ? 0 : iova, all ? -1L : iova + size - 1, k.backend()::unregisterMemory);
                if (all) {
                    synchronized (cutOff) {
                        cutOff.forEach(k.backend()::unregisterMemory);
                        cutOff.clear();
                    }
                }
            }
            return unmapped;
        }
    }

    /**
     * What VFIO_IOMMU_GET_INFO reports.
     *
     * @param flags         {@link #INFO_PGSIZES} | {@link #INFO_CAPS}
     * @param iovaPageSizes bitmap of the IO page sizes every page table of the compat IOAS supports
     * @param iovaRanges    the usable IOVA ranges (capability IOVA_RANGE)
     * @param dmaAvailable  how many more mappings may be made (capability DMA_AVAIL), if reported
     */
    public record Info(int flags, long iovaPageSizes, List<IovaRange> iovaRanges, OptionalLong dmaAvailable) {}

    /**
     * VFIO_IOMMU_GET_INFO with its capability chain (asks again with the size the chain needs).
     *
     * @return the page sizes, usable IOVA ranges and remaining mapping count
     * @throws IommufdException ENODEV without a compat IOAS
     */
    public Info info() throws IommufdException {
        long argsz = vfio_iommu_type1_info.sizeof();
        for (;;) {
            try (Arena arena = Arena.ofConfined(); KernelCall k = KernelCall.begin(iommufd, "VFIO_IOMMU_GET_INFO")) {
                MemorySegment s = arena.allocate(argsz, 8);
                vfio_iommu_type1_info.argsz(s, (int) argsz);
                k.kernelWrites(s, argsz, "info");
                k.ioctl(Uapi.VFIO_IOMMU_GET_INFO(), s, x -> "argsz=" + Integer.toUnsignedLong(vfio_iommu_type1_info.argsz(x)));
                long need = Integer.toUnsignedLong(vfio_iommu_type1_info.argsz(s));
                int capOffset = vfio_iommu_type1_info.cap_offset(s);
                if (capOffset == 0 && need > argsz) { // the chain did not fit: ask again with its size
                    argsz = need;
                    continue;
                }
                return parse(s, Math.min(argsz, need), capOffset);
            }
        }
    }

    private static Info parse(MemorySegment s, long size, int capOffset) {
        List<IovaRange> ranges = new ArrayList<>();
        long avail = -1;
        // the chain: header {u16 id, u16 version, u32 next}; offsets from the struct's start, 0 ends it
        for (long at = capOffset, hops = 0; at != 0 && at + vfio_info_cap_header.sizeof() <= size && hops < 64; hops++) {
            MemorySegment cap = s.asSlice(at);
            int id = Short.toUnsignedInt(vfio_info_cap_header.id(cap));
            if (id == Uapi.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE()) {
                long n = Integer.toUnsignedLong(vfio_iommu_type1_info_cap_iova_range.nr_iovas(cap));
                long base = vfio_iommu_type1_info_cap_iova_range.iova_ranges$offset();
                for (long i = 0; i < n && at + base + (i + 1) * vfio_iova_range.sizeof() <= size; i++) {
                    MemorySegment r = cap.asSlice(base + i * vfio_iova_range.sizeof(), vfio_iova_range.sizeof());
                    ranges.add(new IovaRange(vfio_iova_range.start(r), vfio_iova_range.end(r)));
                }
            } else if (id == Uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL()) {
                avail = Integer.toUnsignedLong(vfio_iommu_type1_info_dma_avail.avail(cap));
            }
            long next = Integer.toUnsignedLong(vfio_info_cap_header.next(cap));
            if (next != 0 && next <= at) break; // chains only go forward
            at = next;
        }
        return new Info(vfio_iommu_type1_info.flags(s), vfio_iommu_type1_info.iova_pgsizes(s), List.copyOf(ranges),
                avail < 0 ? OptionalLong.empty() : OptionalLong.of(avail));
    }

    /** An ioctl whose argument is a value or nothing: its result. */
    private int call(String op, int request, MemorySegment arg, String args) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, op)) {
            return k.ioctl(request, arg, x -> args);
        }
    }

    /**
     * Names the iommufd this works on.
     *
     * @return e.g. {@code VfioCompat[Iommufd[...]]}
     */
    @Override
    public String toString() {
        return "VfioCompat[" + iommufd + "]";
    }
}
