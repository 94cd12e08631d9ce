package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.vfio_info_cap_header;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_map;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_unmap;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info_cap_iova_range;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info_dma_avail;
import io.github.iommufd4j.bindings.uapi.vfio_iova_range;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;

/**
 * The VFIO container ioctls iommufd answers on its own fd ({@code vfio_compat.c},
 * docs/kernel-behaviour.md §1.2 step 1, §3.8): they work on the compat IOAS (IOMMU_VFIO_IOAS
 * SET). Checks in the kernel's order, with its errno. Not emulated: the no-IOMMU mode, which only
 * a VFIO group attach can enter.
 */
final class VfioCompatCommands {
    private static final int GET_API_VERSION = Uapi.VFIO_GET_API_VERSION(), CHECK_EXTENSION = Uapi.VFIO_CHECK_EXTENSION(),
            SET_IOMMU = Uapi.VFIO_SET_IOMMU(), GET_INFO = Uapi.VFIO_IOMMU_GET_INFO(), MAP_DMA = Uapi.VFIO_IOMMU_MAP_DMA(),
            UNMAP_DMA = Uapi.VFIO_IOMMU_UNMAP_DMA();
    private static final long TYPE1 = Uapi.VFIO_TYPE1_IOMMU(), TYPE1V2 = Uapi.VFIO_TYPE1v2_IOMMU(),
            UNMAP_ALL = Uapi.VFIO_UNMAP_ALL(), NOIOMMU = Uapi.VFIO_NOIOMMU_IOMMU(), DMA_CC = Uapi.VFIO_DMA_CC_IOMMU();
    private static final int MAP_READ = Uapi.VFIO_DMA_MAP_FLAG_READ(), MAP_WRITE = Uapi.VFIO_DMA_MAP_FLAG_WRITE(),
            UNMAP_FLAG_ALL = Uapi.VFIO_DMA_UNMAP_FLAG_ALL();
    /** offsetofend(..., size) of MAP and UNMAP, offsetofend(..., iova_pgsizes) of GET_INFO. */
    private static final long MAP_MINSZ = vfio_iommu_type1_dma_map.size$offset() + 8,
            UNMAP_MINSZ = vfio_iommu_type1_dma_unmap.size$offset() + 8,
            INFO_MINSZ = vfio_iommu_type1_info.iova_pgsizes$offset() + 8;
    private static final long INFO_SIZE = vfio_iommu_type1_info.sizeof(), IOVA_CAP_SIZE = vfio_iommu_type1_info_cap_iova_range.sizeof(),
            RANGE_SIZE = vfio_iova_range.sizeof(), DMA_AVAIL_SIZE = vfio_iommu_type1_info_dma_avail.sizeof();

    private final SwIommufd fd;
    private final IoasCommands ioas;
    /** The kernel's copy of the struct (calls run one at a time, under the backend lock). */
    private final MemorySegment k = Arena.ofAuto().allocate(64, 8);

    VfioCompatCommands(SwIommufd fd, IoasCommands ioas) {
        this.fd = fd;
        this.ioas = ioas;
    }

    /** {@code iommufd_vfio_ioctl}: the result, or -errno; ENOTTY for anything else (ENOIOCTLCMD). */
    int run(int cmd, MemorySegment arg) {
        if (cmd == GET_API_VERSION) return Uapi.VFIO_API_VERSION();
        if (cmd == SET_IOMMU) return setIommu(arg.address());
        if (cmd == CHECK_EXTENSION) return checkExtension(arg.address());
        if (cmd == GET_INFO) return getInfo(arg);
        if (cmd == MAP_DMA) return mapDma(arg);
        if (cmd == UNMAP_DMA) return unmapDma(arg);
        return -Err.ENOTTY; // VFIO_IOMMU_DIRTY_PAGES too
    }

    /** {@code get_compat_ioas}. */
    private SwIoas compat() {
        Err.when(fd.compatIoas == null, Err.ENODEV);
        return fd.compatIoas;
    }

    private int checkExtension(long type) {
        if (type == TYPE1 || type == TYPE1V2 || type == UNMAP_ALL) return 1;
        if (type == NOIOMMU) return 0; // CONFIG_VFIO_NOIOMMU is off
        // DMA_CC_IOMMU: every paging HWPT must enforce cache coherency; the mock's never do
        if (type == DMA_CC) return compat().domains.isEmpty() ? 1 : 0;
        return 0;
    }

    private int setIommu(long type) {
        if (type != TYPE1 && type != TYPE1V2) return -Err.EINVAL;
        SwIoas compat = compat();
        // TYPE1 may unmap inside a mapping: no huge IOPTEs (EINVAL once a domain holds areas)
        if (type == TYPE1) IoasCommands.disableHugePages(compat);
        return 0;
    }

    private int mapDma(MemorySegment arg) {
        if (!UserCopy.copy(arg, 0, k, 0, MAP_MINSZ)) return -Err.EFAULT;
        int flags = vfio_iommu_type1_dma_map.flags(k);
        if (Integer.toUnsignedLong(vfio_iommu_type1_dma_map.argsz(k)) < MAP_MINSZ || (flags & ~(MAP_READ | MAP_WRITE)) != 0) {
            return -Err.EINVAL;
        }
        int prot = ((flags & MAP_READ) != 0 ? SwIoas.READ : 0) | ((flags & MAP_WRITE) != 0 ? SwIoas.WRITE : 0);
        SwIoas compat = compat();
        // always at a fixed IOVA; no flags at all is accepted: a mapping neither readable nor writable
        ioas.mapUser(compat, vfio_iommu_type1_dma_map.vaddr(k), vfio_iommu_type1_dma_map.size(k),
                vfio_iommu_type1_dma_map.iova(k), true, prot);
        return 0;
    }

    /**
     * FLAG_ALL needs iova = size = 0. Removing nothing succeeds. In TYPE1 mode (huge pages off) the
     * areas at both ends of the range are cut first, so part of a mapping can go; a failed cut
     * returns at once. Otherwise the bytes removed are written back in {@code size}, also when the
     * unmap failed part way.
     */
    private int unmapDma(MemorySegment arg) {
        if (!UserCopy.copy(arg, 0, k, 0, UNMAP_MINSZ)) return -Err.EFAULT;
        int flags = vfio_iommu_type1_dma_unmap.flags(k);
        if (Integer.toUnsignedLong(vfio_iommu_type1_dma_unmap.argsz(k)) < UNMAP_MINSZ || (flags & ~UNMAP_FLAG_ALL) != 0) {
            return -Err.EINVAL;
        }
        SwIoas compat = compat();
        long iova = vfio_iommu_type1_dma_unmap.iova(k), size = vfio_iommu_type1_dma_unmap.size(k);
        int rc;
        long unmapped = 0;
        if ((flags & UNMAP_FLAG_ALL) != 0) {
            if (iova != 0 || size != 0) return -Err.EINVAL;
            rc = unmapRange(compat, 0, U64.MAX);
            unmapped = compat.unmapped;
        } else {
            if (compat.hugePagesDisabled) { // iopt_cut_iova: the last byte, then the byte before the first
                compat.cut(iova + size - 1);
                if (iova != 0) compat.cut(iova - 1);
            }
            if (size == 0) {
                rc = -Err.EINVAL;
            } else if (U64.addOverflows(iova, size - 1)) {
                rc = -Err.EOVERFLOW;
            } else {
                rc = unmapRange(compat, iova, iova + size - 1);
                unmapped = compat.unmapped;
            }
        }
        vfio_iommu_type1_dma_unmap.size(k, unmapped);
        return UserCopy.copy(k, 0, arg, 0, UNMAP_MINSZ) ? rc : -Err.EFAULT;
    }

    private static int unmapRange(SwIoas ioas, long start, long last) {
        try {
            ioas.unmapRange(start, last);
            return 0;
        } catch (Fail f) {
            return -f.errno;
        }
    }

    /**
     * The struct, then the capability chain behind it (DMA_AVAIL, then IOVA_RANGE: the holes of
     * the reserved ranges), each written only where it fits in {@code argsz}; {@code argsz} comes
     * back as the size the whole chain needs, {@code cap_offset} is set only when it all fits. The
     * kernel copies back {@code min(argsz, sizeof)} bytes of the struct.
     */
    private int getInfo(MemorySegment arg) {
        k.fill((byte) 0);
        if (!UserCopy.copy(arg, 0, k, 0, INFO_MINSZ)) return -Err.EFAULT;
        long argsz = Integer.toUnsignedLong(vfio_iommu_type1_info.argsz(k));
        if (argsz < INFO_MINSZ) return -Err.EINVAL;
        long copyBack = Math.min(argsz, INFO_SIZE);
        SwIoas compat = compat();
        vfio_iommu_type1_info.flags(k, Uapi.VFIO_IOMMU_INFO_PGSIZES());
        vfio_iommu_type1_info.iova_pgsizes(k, pageSizes(compat));
        vfio_iommu_type1_info.cap_offset(k, 0);
        long total = INFO_SIZE, lastCap = -1;
        for (int i = 0; i < 2; i++) {
            long avail = argsz > total ? argsz - total : 0;
            long capSize = i == 0 ? fillDmaAvail(arg, total, avail) : fillIovaRanges(compat, arg, total, avail);
            if (capSize < 0) return (int) capSize;
            capSize = (capSize + 7) & -8;
            // the previous cap's next is set when the chain reaches this cap's start, even if this cap did not fit
            if (lastCap >= 0 && argsz >= total && !putU32(arg, lastCap + vfio_info_cap_header.next$offset(), total)) {
                return -Err.EFAULT;
            }
            lastCap = total;
            total += capSize;
        }
        if (argsz >= total) vfio_iommu_type1_info.cap_offset(k, (int) INFO_SIZE);
        vfio_iommu_type1_info.argsz(k, (int) total);
        vfio_iommu_type1_info.flags(k, Uapi.VFIO_IOMMU_INFO_PGSIZES() | Uapi.VFIO_IOMMU_INFO_CAPS());
        return UserCopy.copy(k, 0, arg, 0, copyBack) ? 0 : -Err.EFAULT;
    }

    /** {@code iommufd_fill_cap_dma_avail}: its size, or -EFAULT. iommufd reports U32_MAX mappings available. */
    private static long fillDmaAvail(MemorySegment arg, long at, long avail) {
        if (avail >= DMA_AVAIL_SIZE) {
            MemorySegment cap = MemorySegment.ofArray(new long[2]).asSlice(0, DMA_AVAIL_SIZE);
            header(cap, Uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL());
            vfio_iommu_type1_info_dma_avail.avail(cap, -1);
            if (!UserCopy.copy(cap, 0, arg, at, DMA_AVAIL_SIZE)) return -Err.EFAULT;
        }
        return DMA_AVAIL_SIZE;
    }

    /**
     * {@code iommufd_fill_cap_iova}: each range is written where it fits, the header (with the
     * count of all ranges) only if all of them fit. Its size, or -EFAULT.
     */
    private static long fillIovaRanges(SwIoas ioas, MemorySegment arg, long at, long avail) {
        List<long[]> ranges = ioas.usableRanges();
        MemorySegment r = MemorySegment.ofArray(new long[2]);
        for (int n = 0; n < ranges.size(); n++) {
            if (avail < IOVA_CAP_SIZE + (n + 1) * RANGE_SIZE) continue;
            vfio_iova_range.start(r, ranges.get(n)[0]);
            vfio_iova_range.end(r, ranges.get(n)[1]);
            if (!UserCopy.copy(r, 0, arg, at + IOVA_CAP_SIZE + n * RANGE_SIZE, RANGE_SIZE)) return -Err.EFAULT;
        }
        long size = IOVA_CAP_SIZE + ranges.size() * RANGE_SIZE;
        if (avail >= size) {
            MemorySegment cap = MemorySegment.ofArray(new long[2]);
            header(cap, Uapi.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE());
            vfio_iommu_type1_info_cap_iova_range.nr_iovas(cap, ranges.size());
            if (!UserCopy.copy(cap, 0, arg, at, IOVA_CAP_SIZE)) return -Err.EFAULT;
        }
        return size;
    }

    private static void header(MemorySegment cap, int id) {
        vfio_info_cap_header.id(cap, (short) id);
        vfio_info_cap_header.version(cap, (short) 1);
    }

    private static boolean putU32(MemorySegment arg, long at, long value) {
        MemorySegment v = MemorySegment.ofArray(new int[] {(int) value});
        return UserCopy.copy(v, 0, arg, at, 4);
    }

    /**
     * {@code iommufd_get_pagesizes}: the page sizes every domain of the IOAS supports, sizes below
     * PAGE_SIZE folded into PAGE_SIZE, at least the IOVA alignment. Mock domains: 6.12 2 KiB
     * (HUGE_IOVA devices' 1 MiB is not modelled); 7.3 the generic page table's 2 KiB to 64 GiB
     * (AMDv1 mock format, 38-bit VA); 7.3 MOCK_IOMMUPT_HUGE 4 KiB and 1 MiB.
     */
    private long pageSizes(SwIoas ioas) {
        long bitmap = U64.MAX;
        for (SwHwpt d : ioas.domains) bitmap &= domainPageSizes(d);
        if ((bitmap & (PAGE_SIZE - 1)) != 0) bitmap = (bitmap & -PAGE_SIZE) | PAGE_SIZE;
        return U64.max(bitmap, ioas.alignment);
    }

    private long domainPageSizes(SwHwpt d) {
        if (d.minPage == PAGE_SIZE) return PAGE_SIZE | (1L << 20); // 7.3 MOCK_IOMMUPT_HUGE
        return fd.v73() ? ((1L << 37) - 1) & -SwHwpt.MOCK_PAGE : SwHwpt.MOCK_PAGE;
    }
}
