package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.iommu_hw_info;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_get_dirty_bitmap;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_invalidate;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_invalidate_selftest;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_set_dirty_tracking;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.internal.software.Abi.*;
import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;

/**
 * HWPT_ALLOC, GET_HW_INFO, HWPT_SET_DIRTY_TRACKING, HWPT_GET_DIRTY_BITMAP, HWPT_INVALIDATE (§4).
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class HwptCommands {
    private final SwIommufd fd;
    private final ViommuCommands viommu;

    HwptCommands(SwIommufd fd, ViommuCommands viommu) {
        this.fd = fd;
        this.viommu = viommu;
    }

    /** §4.1. */
    int alloc(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_hwpt_alloc.flags(k), dataType = iommu_hwpt_alloc.data_type(k);
        int dataLen = iommu_hwpt_alloc.data_len(k);
        if (iommu_hwpt_alloc.__reserved(k) != 0) return -Err.EOPNOTSUPP; // __reserved2 is never checked
        if ((dataType == HWPT_DATA_NONE) != (dataLen == 0)) return -Err.EINVAL;
        SwDevice dev = fd.device(iommu_hwpt_alloc.dev_id(k));
        SwObject pt = fd.objects.get(iommu_hwpt_alloc.pt_id(k));
        if (pt == null) return -Err.EINVAL; // §2.2 exception
        long uptr = iommu_hwpt_alloc.data_uptr(k);
        SwHwpt h;
        if (pt instanceof SwIoas ioas) h = allocPaging(ioas, dev, flags, dataType, dataLen, uptr);
        else if (pt instanceof SwHwpt parent && !parent.nested) h = allocNested(parent, flags, dataType, dataLen, uptr);
        else if (pt instanceof SwViommu v) h = allocViommuNested(v, flags, dataType, dataLen, uptr);
        else return -Err.EINVAL;
        if ((flags & HWPT_FAULT_ID_VALID) != 0) {
            if (!(fd.objects.get(iommu_hwpt_alloc.fault_id(k)) instanceof SwFault fault)) {
                fd.destroyHwpt(h);
                return -Err.ENOENT;
            }
            h.fault = fault;
            fault.users++;
        }
        iommu_hwpt_alloc.out_hwpt_id(k, h.id);
        int rc = c.respond();
        if (rc != 0) {
            fd.destroyHwpt(h);
            return rc;
        }
        fd.objects.publish(h);
        return 0;
    }

    /** §4.2. */
    private SwHwpt allocPaging(SwIoas ioas, SwDevice dev, int flags, int dataType, int dataLen, long uptr) {
        int valid = HWPT_NEST_PARENT | HWPT_DIRTY_TRACKING | (fd.v73() ? HWPT_FAULT_ID_VALID | HWPT_PASID : 0);
        Err.when((flags & ~valid) != 0, Err.EOPNOTSUPP);
        Err.when((flags & HWPT_FAULT_ID_VALID) != 0 && (flags & HWPT_NEST_PARENT) != 0, Err.EOPNOTSUPP);
        Err.when((flags & HWPT_DIRTY_TRACKING) != 0 && (dev.flags & SwDevice.NO_DIRTY) != 0, Err.EOPNOTSUPP);
        boolean hugeType = false;
        if (dataType != HWPT_DATA_NONE) {
            // 6.12's mock refuses user data for paging domains; 7.3's takes iommu_hwpt_selftest.
            Err.when(!fd.v73() || dataType != HWPT_DATA_SELFTEST, Err.EOPNOTSUPP);
            int type = selftestData(dataLen, uptr, 8).get(ValueLayout.JAVA_INT, 4);
            Err.when(type != 0 && type != 1, Err.EOPNOTSUPP);
            hugeType = type == 1;
        }
        return fd.createPaging(ioas, flags, false, hugeType);
    }

    /** §4.3 (parent = HWPT_PAGING). */
    private SwHwpt allocNested(SwHwpt parent, int flags, int dataType, int dataLen, long uptr) {
        int valid = HWPT_FAULT_ID_VALID | (fd.v73() ? HWPT_PASID : 0);
        Err.when((flags & ~valid) != 0, Err.EOPNOTSUPP);
        Err.when(dataLen == 0, Err.EOPNOTSUPP);
        Err.when(parent.auto || !parent.nestParent(), Err.EINVAL);
        Err.when(dataType != HWPT_DATA_SELFTEST, Err.EOPNOTSUPP);
        int iotlb = selftestData(dataLen, uptr, fd.v73() ? 8 : 4).get(ValueLayout.JAVA_INT, 0);
        int id = fd.objects.reserve();
        parent.users++;
        return SwHwpt.nested(id, parent, flags, iotlb);
    }

    /** 7.3 {@code iommufd_viommu_alloc_hwpt_nested} + {@code mock_viommu_alloc_domain_nested}: holds the vIOMMU, not the parent. */
    private SwHwpt allocViommuNested(SwViommu v, int flags, int dataType, int dataLen, long uptr) {
        Err.when((flags & ~(HWPT_FAULT_ID_VALID | HWPT_PASID)) != 0, Err.EOPNOTSUPP);
        Err.when(dataLen == 0, Err.EOPNOTSUPP);
        int id = fd.objects.reserve();
        int iotlb;
        try {
            Err.when(dataType != HWPT_DATA_SELFTEST, Err.EOPNOTSUPP);
            iotlb = selftestData(dataLen, uptr, 8).get(ValueLayout.JAVA_INT, 0);
        } catch (Fail f) {
            fd.objects.release(id);
            throw f;
        }
        SwHwpt h = SwHwpt.nested(id, v.parent, flags, iotlb);
        h.viommu = v;
        v.users++;
        return h;
    }

    /** {@code iommu_copy_struct_from_user} of {@code iommu_hwpt_selftest}: len 4..sizeof, zero-filled. */
    private MemorySegment selftestData(int len, long uptr, int sizeof) {
        Err.when(len < 4 || len > sizeof, Err.EINVAL);
        MemorySegment data = MemorySegment.ofArray(new long[1]);
        Err.when(!fd.memory.read(uptr, data, 0, len), Err.EFAULT);
        return data;
    }

    /** §4.8. */
    int hwInfo(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_hw_info.flags(k);
        int validFlags = fd.v73() ? HW_INFO_FLAG_INPUT_TYPE : 0;
        MemorySegment r = iommu_hw_info.__reserved(k);
        boolean reserved = r.get(ValueLayout.JAVA_BYTE, 0) != 0 || r.get(ValueLayout.JAVA_BYTE, 1) != 0
                || r.get(ValueLayout.JAVA_BYTE, 2) != 0;
        if ((flags & ~validFlags) != 0 || reserved) return -Err.EOPNOTSUPP;
        SwDevice dev = fd.device(iommu_hw_info.dev_id(k));
        if (fd.v73()) {
            int type = (flags & HW_INFO_FLAG_INPUT_TYPE) != 0 ? iommu_hw_info.in_data_type(k) : 0;
            if (type != 0 && type != HW_INFO_TYPE_SELFTEST) return -Err.EOPNOTSUPP;
        }
        long len = Integer.toUnsignedLong(iommu_hw_info.data_len(k)), uptr = iommu_hw_info.data_uptr(k);
        MemorySegment data = MemorySegment.ofArray(new long[1]); // iommu_test_hw_info {flags 0, test_reg}
        data.set(ValueLayout.JAVA_INT, 4, HW_INFO_SELFTEST_REGVAL);
        long copy = Math.min(len, 8);
        if (!fd.memory.write(uptr, data, 0, copy)) return -Err.EFAULT;
        if (len > copy && !fd.memory.write(uptr + copy, MemorySegment.ofArray(new byte[(int) (len - copy)]), 0, len - copy)) {
            return -Err.EFAULT;
        }
        iommu_hw_info.data_len(k, 8);
        iommu_hw_info.out_data_type(k, HW_INFO_TYPE_SELFTEST);
        long caps = (dev.flags & SwDevice.NO_DIRTY) == 0 ? HW_CAP_DIRTY_TRACKING : 0;
        if (fd.v73()) caps |= HW_CAP_PCI_ATS_NOT_SUPPORTED;
        iommu_hw_info.out_capabilities(k, caps);
        iommu_hw_info.out_max_pasid_log2(k, (byte) (fd.v73() && (dev.flags & SwDevice.PASID) != 0 ? 20 : 0));
        return c.respond();
    }

    /** §4.5 ({@code __reserved} is never checked). */
    int setDirtyTracking(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_hwpt_set_dirty_tracking.flags(k);
        if ((flags & ~DIRTY_TRACKING_ENABLE) != 0) return -Err.EOPNOTSUPP;
        SwHwpt h = (SwHwpt) fd.objects.get(iommu_hwpt_set_dirty_tracking.hwpt_id(k), SwObject.Kind.HWPT_PAGING);
        if (!h.dirtyOps) return -Err.EOPNOTSUPP;
        boolean enable = (flags & DIRTY_TRACKING_ENABLE) != 0;
        if (enable) h.dirty.clearAll();
        h.dirtyTracking = enable;
        return 0;
    }

    /** §4.6: the walk never fails the ioctl; bits are only ever set in the user's bitmap. */
    int dirtyBitmap(Call c) {
        MemorySegment k = c.k;
        int flags = iommu_hwpt_get_dirty_bitmap.flags(k);
        if ((flags & ~DIRTY_BITMAP_NO_CLEAR) != 0 || iommu_hwpt_get_dirty_bitmap.__reserved(k) != 0) {
            return -Err.EOPNOTSUPP;
        }
        SwHwpt h = (SwHwpt) fd.objects.get(iommu_hwpt_get_dirty_bitmap.hwpt_id(k), SwObject.Kind.HWPT_PAGING);
        long iova = iommu_hwpt_get_dirty_bitmap.iova(k), length = iommu_hwpt_get_dirty_bitmap.length(k);
        long pageSize = iommu_hwpt_get_dirty_bitmap.page_size(k), data = iommu_hwpt_get_dirty_bitmap.data(k);
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(iova, length - 1)) return -Err.EOVERFLOW;
        long last = iova + length - 1, alignMask = h.ioas.alignment - 1;
        if ((iova & alignMask) != 0 || ((last + 1) & alignMask) != 0) return -Err.EINVAL;
        if (pageSize == 0) return -Err.EINVAL;
        if ((iova & (pageSize - 1)) != 0 || ((last + 1) & (pageSize - 1)) != 0) return -Err.EINVAL;
        if (!h.dirtyOps) return -Err.EOPNOTSUPP;
        // The 6.12 mock refuses to read with tracking off (an error the walk drops).
        if (!fd.v73() && !h.dirtyTracking) return 0;
        boolean clear = (flags & DIRTY_BITMAP_NO_CLEAR) == 0;
        Bitmap bitmap = new Bitmap(fd.memory, data);
        // Reported: the areas contiguous from iova; the walk stops at the first gap (EINVAL, dropped).
        for (long cur = iova;;) {
            long p = h.ioas.areas.find(cur);
            if (p < 0) break;
            long end = U64.min(last, h.ioas.areas.last(p));
            if (!h.ioas.revoked(p)) h.dirty.forEach(cur, end, clear, g -> { // a revoked dma-buf's area has no IOPTEs
                long from = U64.max(g, iova) - iova, to = U64.min(g + DirtyBits.GRANULE - 1, last) - iova;
                bitmap.set(Long.divideUnsigned(from, pageSize), Long.divideUnsigned(to, pageSize));
            });
            if (end == last) break;
            cur = end + 1;
        }
        return 0;
    }

    /** Sets bits in a user bitmap (LSB first); bytes that cannot be written are skipped, as the kernel does. */
    private record Bitmap(UserMemory memory, long uptr) {
        void set(long firstBit, long lastBit) {
            MemorySegment b = MemorySegment.ofArray(new byte[1]);
            for (long bit = firstBit; bit <= lastBit; bit++) {
                long at = uptr + (bit >>> 3);
                if (!memory.read(at, b, 0, 1)) continue;
                b.set(ValueLayout.JAVA_BYTE, 0, (byte) (b.get(ValueLayout.JAVA_BYTE, 0) | (1 << (bit & 7))));
                memory.write(at, b, 0, 1);
            }
        }
    }

    /** §4.7: {@code entry_num} is written back, with the entries done, even on failure. */
    int invalidate(Call c) {
        MemorySegment k = c.k;
        int[] done = {0};
        int rc;
        try {
            rc = invalidate(k, done);
        } catch (Fail f) {
            rc = -f.errno;
        }
        iommu_hwpt_invalidate.entry_num(k, done[0]);
        int w = c.respond();
        return w != 0 ? w : rc;
    }

    private int invalidate(MemorySegment k, int[] done) {
        if (iommu_hwpt_invalidate.__reserved(k) != 0) return -Err.EOPNOTSUPP;
        long num = Integer.toUnsignedLong(iommu_hwpt_invalidate.entry_num(k));
        long len = Integer.toUnsignedLong(iommu_hwpt_invalidate.entry_len(k));
        long uptr = iommu_hwpt_invalidate.data_uptr(k);
        if (num != 0 && (uptr == 0 || len == 0 || len > PAGE_SIZE || num > (1 << 19))) return -Err.EINVAL;
        SwObject o = fd.objects.get(iommu_hwpt_invalidate.hwpt_id(k));
        if (fd.v73()) {
            if (o == null) return -Err.ENOENT;
            if (o instanceof SwViommu v) return viommu.invalidate(v, iommu_hwpt_invalidate.data_type(k), uptr, len, num, done);
            if (o.kind() != SwObject.Kind.HWPT_NESTED) return -Err.EINVAL;
        } else if (o == null || o.kind() != SwObject.Kind.HWPT_NESTED) {
            return -Err.ENOENT;
        }
        SwHwpt h = (SwHwpt) o;
        if (iommu_hwpt_invalidate.data_type(k) != INVALIDATE_DATA_SELFTEST) return -Err.EINVAL;
        long entrySize = iommu_hwpt_invalidate_selftest.sizeof();
        for (long i = 0; i < num; i++) {
            if (len != entrySize) return -Err.EINVAL;
            MemorySegment e = fd.memory.copyIn(uptr + i * len, entrySize);
            if (e == null) return -Err.EFAULT;
            int flags = iommu_hwpt_invalidate_selftest.flags(e), slot = iommu_hwpt_invalidate_selftest.iotlb_id(e);
            if ((flags & ~INVALIDATE_FLAG_ALL) != 0) return -Err.EOPNOTSUPP;
            if ((flags & INVALIDATE_FLAG_ALL) != 0) {
                java.util.Arrays.fill(h.iotlb, 0);
            } else {
                if (Integer.compareUnsigned(slot, 3) > 0) return -Err.EINVAL;
                h.iotlb[slot] = 0;
            }
            done[0]++;
        }
        return 0;
    }
}
