package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_allow_iovas;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_copy;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_iova_ranges;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_change_process;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map_file;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_unmap;
import io.github.iommufd4j.bindings.uapi.iommu_iova_range;
import io.github.iommufd4j.bindings.uapi.iommu_option;
import io.github.iommufd4j.bindings.uapi.iommu_vfio_ioas;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static io.github.iommufd4j.internal.software.Abi.*;
import static io.github.iommufd4j.internal.software.U64.MAX;
import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;
import static io.github.iommufd4j.internal.software.U64.lt;

/**
 * IOAS_ALLOC, ALLOW_IOVAS, COPY, IOVA_RANGES, MAP, UNMAP, OPTION and VFIO_IOAS (§3).
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class IoasCommands {
    /** RLIMIT_MODE SET needs CAP_SYS_RESOURCE: the process is taken to have it iff its euid is root. */
    private static final boolean CAP_SYS_RESOURCE = Libc.syscall(107 /* geteuid */, 0, 0, 0, 0, 0, 0) == 0;

    private final SwIommufd fd;

    IoasCommands(SwIommufd fd) {
        this.fd = fd;
    }

    int alloc(Call c) {
        MemorySegment k = c.k;
        if (iommu_ioas_alloc.flags(k) != 0) return -Err.EOPNOTSUPP;
        int id = fd.objects.reserve();
        iommu_ioas_alloc.out_ioas_id(k, id);
        int rc = c.respond();
        if (rc != 0) {
            fd.objects.release(id);
            return rc;
        }
        fd.objects.publish(new SwIoas(id, fd.memory, fd.mappedPages));
        return 0;
    }

    /** §3.6: entries are read one at a time, as the kernel does. */
    int allowIovas(Call c) {
        MemorySegment k = c.k;
        if (iommu_ioas_allow_iovas.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        SwIoas ioas = fd.ioas(iommu_ioas_allow_iovas.ioas_id(k));
        long n = Integer.toUnsignedLong(iommu_ioas_allow_iovas.num_iovas(k));
        long uptr = iommu_ioas_allow_iovas.allowed_iovas(k);
        List<long[]> ranges = new ArrayList<>();
        for (long i = 0; i < n; i++) {
            MemorySegment e = fd.memory.copyIn(uptr + i * iommu_iova_range.sizeof(), iommu_iova_range.sizeof());
            if (e == null) return -Err.EFAULT;
            long start = iommu_iova_range.start(e), last = iommu_iova_range.last(e);
            if (!lt(start, last)) return -Err.EINVAL;
            for (long[] r : ranges) if (U64.intersects(r[0], r[1], start, last)) return -Err.EINVAL;
            ranges.add(new long[] {start, last});
        }
        ranges.sort((a, b) -> Long.compareUnsigned(a[0], b[0]));
        ioas.setAllowed(ranges.toArray(new long[0][]));
        return 0;
    }

    /** §3.4. */
    int copy(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_ioas_copy.flags(k);
        if ((flags & ACCESS_SYZ) != 0) { // row 0 (TEST builds)
            flags &= ~ACCESS_SYZ;
            iommu_ioas_copy.flags(k, flags);
            if (fd.objects.get(iommu_ioas_copy.src_ioas_id(k)) instanceof SwIoas src) {
                iommu_ioas_copy.src_iova(k, syzIova(src, iommu_ioas_copy.src_iova(k)));
            }
        }
        if ((flags & ~MAP_FLAGS) != 0) return -Err.EOPNOTSUPP;
        long length = iommu_ioas_copy.length(k), srcIova = iommu_ioas_copy.src_iova(k);
        long dstIova = iommu_ioas_copy.dst_iova(k);
        if (length == MAX || srcIova == MAX || dstIova == MAX) return -Err.EOVERFLOW;
        if ((flags & (MAP_READABLE | MAP_WRITEABLE)) == 0) return -Err.EINVAL;
        SwIoas src = fd.ioas(iommu_ioas_copy.src_ioas_id(k));
        List<SwIoas.Piece> pieces = src.pages(srcIova, length);
        SwIoas dst = fd.ioas(iommu_ioas_copy.dst_ioas_id(k));
        long iova = dst.map(pieces, length, dstIova, (flags & MAP_FIXED_IOVA) != 0, prot(flags));
        iommu_ioas_copy.dst_iova(k, iova);
        return c.respond();
    }

    /** {@code iommufd_test_syz_conv_iova}: "(low 32 bits: n-th area, high 32 bits: offset)" → IOVA, 0 if no such area. */
    static long syzIova(SwIoas ioas, long iova) {
        long nth = iova & 0xffffffffL;
        for (long p = ioas.areas.first(); p >= 0; p = ioas.areas.next(p), nth--) {
            if (nth == 0) return ioas.areas.start(p) + (iova >>> 32);
        }
        return 0;
    }

    /** §3.5: the struct is written back before EMSGSIZE. */
    int iovaRanges(Call c) {
        MemorySegment k = c.k;
        if (iommu_ioas_iova_ranges.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        SwIoas ioas = fd.ioas(iommu_ioas_iova_ranges.ioas_id(k));
        long capacity = Integer.toUnsignedLong(iommu_ioas_iova_ranges.num_iovas(k));
        long uptr = iommu_ioas_iova_ranges.allowed_iovas(k);
        List<long[]> ranges = ioas.usableRanges();
        MemorySegment e = MemorySegment.ofArray(new long[2]);
        for (int i = 0; i < ranges.size() && i < capacity; i++) {
            iommu_iova_range.start(e, ranges.get(i)[0]);
            iommu_iova_range.last(e, ranges.get(i)[1]);
            if (!fd.memory.write(uptr + i * e.byteSize(), e, 0, e.byteSize())) return -Err.EFAULT;
        }
        iommu_ioas_iova_ranges.num_iovas(k, ranges.size());
        iommu_ioas_iova_ranges.out_iova_alignment(k, ioas.alignment);
        int rc = c.respond();
        if (rc != 0) return rc;
        return ranges.size() > capacity ? -Err.EMSGSIZE : 0;
    }

    /** §3.1. */
    int map(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_ioas_map.flags(k);
        if ((flags & ~MAP_FLAGS) != 0 || iommu_ioas_map.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        long iova = iommu_ioas_map.iova(k), length = iommu_ioas_map.length(k), va = iommu_ioas_map.user_va(k);
        if (iova == MAX || length == MAX) return -Err.EOVERFLOW;
        if ((flags & (MAP_READABLE | MAP_WRITEABLE)) == 0) return -Err.EINVAL;
        SwIoas ioas = fd.ioas(iommu_ioas_map.ioas_id(k));
        iommu_ioas_map.iova(k, mapUser(ioas, va, length, iova, (flags & MAP_FIXED_IOVA) != 0, prot(flags)));
        return c.respond();
    }

    /**
     * {@code iopt_map_user_pages} (§3.1 from row 5): a new pages object over user memory, mapped at
     * {@code iova} (fixed) or at an allocated IOVA; returns the IOVA. Also VFIO_IOMMU_MAP_DMA's.
     */
    long mapUser(SwIoas ioas, long va, long length, long iova, boolean fixed, int prot) {
        boolean badLength = length == 0 || lt(MAX - PAGE_SIZE, length);
        boolean overflow = U64.addOverflows(va, length);
        if (fd.v73()) { // row 5: 7.3 checks the overflow first
            Err.when(overflow, Err.EOVERFLOW);
            Err.when(badLength, Err.EINVAL);
        } else {
            Err.when(badLength, Err.EINVAL);
            Err.when(overflow, Err.EOVERFLOW);
        }
        return ioas.mapUser(va, length, fd.newPages(), (prot & SwIoas.WRITE) != 0, iova, fixed, prot);
    }

    /**
     * 7.3 IOAS_MAP_FILE (§3.9): the file range is read through a shared mapping of the file made
     * here (what the kernel pins are the file's pages, so the two see the same bytes). Pages
     * beyond the end of the file are unreachable, as unmapped user memory; with a domain attached
     * the kernel pins at once and refuses such a range (EINVAL). A mock dma-buf ({@link SwDmabuf})
     * takes the dma-buf path: the range must lie inside the buffer (EINVAL), which must not be
     * revoked (ENODEV); nothing is pinned. Automatic IOVAs align to the file offset.
     */
    int mapFile(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_ioas_map_file.flags(k);
        if ((flags & ~MAP_FLAGS) != 0) return -Err.EOPNOTSUPP;
        long iova = iommu_ioas_map_file.iova(k), length = iommu_ioas_map_file.length(k);
        long start = iommu_ioas_map_file.start(k);
        if (iova == MAX || length == MAX) return -Err.EOVERFLOW;
        if ((flags & (MAP_READABLE | MAP_WRITEABLE)) == 0) return -Err.EINVAL;
        SwIoas ioas = fd.ioas(iommu_ioas_map_file.ioas_id(k));
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(start, length - 1)) return -Err.EOVERFLOW;
        int fileFd = iommu_ioas_map_file.fd(k);
        SwDmabuf dmabuf = SwDmabuf.of(fileFd);
        SwDmabuf.Attachment attachment = null;
        long size;
        if (dmabuf != null) { // iopt_alloc_dmabuf_pages
            if (!lt(start + length - 1, dmabuf.size)) return -Err.EINVAL;
            attachment = dmabuf.attach(); // ENODEV when revoked
            size = dmabuf.size;
        } else {
            size = fileSize(fileFd);
            if (size < 0) return -Err.EBADF;
            if (!ioas.domains.isEmpty() && lt(size, start + length)) return -Err.EINVAL;
        }
        long startByte = start & (PAGE_SIZE - 1), pageStart = start - startByte;
        java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();
        long span = startByte + length;
        long readable = lt(pageStart, size) ? Math.min(span, size - pageStart) : 0;
        long va;
        MemorySegment view = null;
        if (readable > 0) {
            long mapLength = (readable + PAGE_SIZE - 1) & -PAGE_SIZE;
            long addr = Libc.mmap(0, mapLength, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fileFd, pageStart);
            if (addr < 0) addr = Libc.mmap(0, mapLength, Libc.PROT_READ, Libc.MAP_SHARED, fileFd, pageStart);
            if (addr < 0) {
                arena.close();
                if (attachment != null) attachment.detach();
                return (int) addr;
            }
            view = MemorySegment.ofAddress(addr).reinterpret(readable, arena, s -> Libc.munmap(s.address(), mapLength));
            fd.memory.register(view);
            va = addr + startByte;
        } else {
            va = 1L << 62; // nothing of the file there: an address no registration holds
        }
        int pages = fd.newPages();
        fd.mappedPages.put(pages, new SwIommufd.MappedPages(arena, start - va, attachment));
        try {
            var piece = new SwIoas.Piece(va, length, pages, (flags & MAP_WRITEABLE) != 0);
            long at = ioas.map(List.of(piece), length, iova, (flags & MAP_FIXED_IOVA) != 0, prot(flags));
            iommu_ioas_map_file.iova(k, at);
        } catch (Fail f) {
            fd.mappedPages.remove(pages);
            if (view != null) fd.memory.unregister(view);
            arena.close();
            if (attachment != null) attachment.detach();
            throw f;
        }
        return c.respond();
    }

    /** fstat(2)'s st_size, or -1 if {@code fileFd} is not an open file. */
    private static long fileSize(int fileFd) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment st = a.allocate(144, 8); // struct stat (x86-64); st_size at 48
            if (Libc.syscall(5 /* fstat */, fileFd, st.address(), 0, 0, 0, 0) < 0) return -1;
            return st.get(java.lang.foreign.ValueLayout.JAVA_LONG, 48);
        }
    }

    /** 7.3 IOAS_CHANGE_PROCESS (§3.9): every area of every IOAS must be file-backed; accounting is not modelled. */
    int changeProcess(Call c) {
        if (iommu_ioas_change_process.__reserved(c.k) != 0) return -Err.EOPNOTSUPP;
        for (SwObject o : fd.objects.all()) {
            if (!(o instanceof SwIoas ioas)) continue;
            boolean[] other = {false};
            ioas.forEachArea((iova, last, va, pages, flags) -> {
                SwIommufd.MappedPages m = fd.mappedPages.get(pages);
                other[0] |= m == null || m.dmabuf() != null; // user memory or a dma-buf
            });
            if (other[0]) return -Err.EINVAL;
        }
        return 0;
    }

    static int prot(int mapFlags) {
        return ((mapFlags & MAP_READABLE) != 0 ? SwIoas.READ : 0) | ((mapFlags & MAP_WRITEABLE) != 0 ? SwIoas.WRITE : 0);
    }

    /** §3.3: the IOAS is looked up before the overflow checks; iova 0 + length U64_MAX unmaps all. */
    int unmap(Call c) {
        MemorySegment k = c.k;
        SwIoas ioas = fd.ioas(iommu_ioas_unmap.ioas_id(k));
        long iova = iommu_ioas_unmap.iova(k), length = iommu_ioas_unmap.length(k);
        long removed;
        if (iova == 0 && length == MAX) {
            ioas.unmapRange(0, MAX); // removing nothing succeeds
            removed = ioas.unmapped;
        } else {
            if (iova == MAX || length == MAX) return -Err.EOVERFLOW;
            if (length == 0) return -Err.EINVAL;
            if (U64.addOverflows(iova, length - 1)) return -Err.EOVERFLOW;
            removed = ioas.unmap(iova, iova + length - 1);
        }
        iommu_ioas_unmap.length(k, removed);
        return c.respond();
    }

    /** §3.7: only {@code val64} is copied back. */
    int option(Call c) {
        MemorySegment k = c.k;
        if (iommu_option.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        int option = iommu_option.option_id(k), op = Short.toUnsignedInt(iommu_option.op(k));
        long val = iommu_option.val64(k);
        if (option == OPTION_RLIMIT_MODE) {
            if (iommu_option.object_id(k) != 0) return -Err.EOPNOTSUPP;
            if (op == OPTION_OP_GET) {
                iommu_option.val64(k, fd.accountMm ? 1 : 0);
            } else if (op == OPTION_OP_SET) {
                if (!CAP_SYS_RESOURCE) return -Err.EPERM;
                if (!fd.objects.isEmpty()) return -Err.EBUSY;
                if (val != 0 && val != 1) return -Err.EINVAL;
                fd.accountMm = val == 1;
            } else {
                return -Err.EOPNOTSUPP;
            }
        } else if (option == OPTION_HUGE_PAGES) {
            SwIoas ioas = fd.ioas(iommu_option.object_id(k));
            if (op == OPTION_OP_GET) {
                iommu_option.val64(k, ioas.hugePagesDisabled ? 0 : 1);
            } else if (op == OPTION_OP_SET) {
                if (val == 0) disableHugePages(ioas);
                else if (val == 1) enableHugePages(ioas);
                else return -Err.EINVAL;
            } else {
                return -Err.EOPNOTSUPP;
            }
        } else {
            return -Err.EOPNOTSUPP;
        }
        return c.respondField(iommu_option.val64$offset(), 8);
    }

    /** {@code iopt_disable_large_pages} (also VFIO_SET_IOMMU TYPE1's). */
    static void disableHugePages(SwIoas ioas) {
        if (ioas.hugePagesDisabled) return;
        Err.when(!ioas.domains.isEmpty() && ioas.areas.size() > 0, Err.EINVAL);
        ioas.hugePagesDisabled = true;
        try {
            ioas.recalculateAlignment();
        } catch (Fail f) {
            ioas.hugePagesDisabled = false;
            throw f;
        }
    }

    /** {@code iopt_enable_large_pages}: always succeeds (the alignment can only drop). */
    private static void enableHugePages(SwIoas ioas) {
        ioas.hugePagesDisabled = false;
        ioas.recalculateAlignment();
    }

    /** §3.8. */
    int vfioIoas(Call c) {
        MemorySegment k = c.k;
        if (iommu_vfio_ioas.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        int op = Short.toUnsignedInt(iommu_vfio_ioas.op(k));
        if (op == VFIO_IOAS_GET) {
            if (fd.compatIoas == null) return -Err.ENODEV;
            iommu_vfio_ioas.ioas_id(k, fd.compatIoas.id);
            return c.respond();
        }
        if (op == VFIO_IOAS_SET) {
            fd.compatIoas = fd.ioas(iommu_vfio_ioas.ioas_id(k));
            return 0;
        }
        if (op == VFIO_IOAS_CLEAR) {
            fd.compatIoas = null;
            return 0;
        }
        return -Err.EOPNOTSUPP;
    }
}
