package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hw_queue_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_veventq_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_vdevice_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_viommu_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;

/**
 * The 7.3 vIOMMU family with the mock driver behind it: VIOMMU_ALLOC, VDEVICE_ALLOC,
 * VEVENTQ_ALLOC, HW_QUEUE_ALLOC, the vIOMMU branch of HWPT_INVALIDATE, and NOIOMMU_GET_PA
 * (7.3 {@code viommu.c}, {@code eventq.c}, {@code selftest.c: mock_viommu_*}).
 */
final class ViommuCommands {
    static final int VIOMMU_TYPE_SELFTEST = Uapi.IOMMU_VIOMMU_TYPE_SELFTEST();
    static final int VEVENTQ_TYPE_SELFTEST = Uapi.IOMMU_VEVENTQ_TYPE_SELFTEST();
    static final int HW_QUEUE_TYPE_SELFTEST = Uapi.IOMMU_HW_QUEUE_TYPE_SELFTEST();
    static final int INVALIDATE_DATA_SELFTEST = Uapi.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST();
    /** {@code VEVENTQ_MAX_DEPTH}. */
    private static final long VEVENTQ_MAX_DEPTH = 1L << 19;
    /** {@code struct iommu_viommu_selftest}: 24 bytes, at least up to {@code out_data} (8). */
    private static final int VIOMMU_DATA_SIZE = 24, VIOMMU_DATA_MIN = 8;

    private final SwIommufd fd;
    /** mmap offsets handed out for mock vIOMMU regions (page-aligned, never 0). */
    private long nextMmapPage = 1;

    ViommuCommands(SwIommufd fd) {
        this.fd = fd;
    }

    /** {@code iommufd_viommu_alloc_ioctl} + {@code mock_viommu_init}; {@code __reserved} is never checked. */
    int viommuAlloc(Call c) {
        MemorySegment k = c.k;
        int type = iommu_viommu_alloc.type(k);
        if (iommu_viommu_alloc.flags(k) != 0 || type == 0) return -Err.EOPNOTSUPP;
        fd.device(iommu_viommu_alloc.dev_id(k));
        if (type != VIOMMU_TYPE_SELFTEST) return -Err.EOPNOTSUPP;
        SwHwpt parent = (SwHwpt) fd.objects.get(iommu_viommu_alloc.hwpt_id(k), SwObject.Kind.HWPT_PAGING);
        if (!parent.nestParent()) return -Err.EINVAL;
        int id = fd.objects.reserve();
        SwViommu v = new SwViommu(id, parent);
        try {
            long len = Integer.toUnsignedLong(iommu_viommu_alloc.data_len(k)), uptr = iommu_viommu_alloc.data_uptr(k);
            if (len != 0) selftestData(v, len, uptr);
        } catch (Fail f) {
            fd.objects.release(id);
            throw f;
        }
        iommu_viommu_alloc.out_viommu_id(k, id);
        int rc = c.respond();
        if (rc != 0) {
            fd.objects.release(id);
            return rc;
        }
        parent.users++;
        fd.objects.publish(v);
        return 0;
    }

    /** The mock's loopback of {@code in_data} and its region's offset and length. */
    private void selftestData(SwViommu v, long len, long uptr) {
        Err.when(len < VIOMMU_DATA_MIN, Err.EINVAL);
        MemorySegment data = MemorySegment.ofArray(new long[VIOMMU_DATA_SIZE / 8]);
        long n = Math.min(len, VIOMMU_DATA_SIZE);
        Err.when(!fd.memory.read(uptr, data, 0, n), Err.EFAULT);
        checkZeroTail(uptr, len, VIOMMU_DATA_SIZE);
        int inData = data.get(ValueLayout.JAVA_INT, 0);
        v.region = fd.regions.allocate(2 * PAGE_SIZE, PAGE_SIZE);
        v.region.set(ValueLayout.JAVA_INT, 0, inData);
        v.mmapOffset = nextMmapPage++ * PAGE_SIZE;
        data.set(ValueLayout.JAVA_INT, 4, inData);
        data.set(ValueLayout.JAVA_LONG, 8, v.mmapOffset);
        data.set(ValueLayout.JAVA_LONG, 16, 2 * PAGE_SIZE);
        Err.when(!fd.memory.write(uptr, data, 0, n), Err.EFAULT);
        if (len > n) Err.when(!fd.memory.write(uptr + n, MemorySegment.ofArray(new byte[(int) (len - n)]), 0, len - n), Err.EFAULT);
    }

    /** {@code copy_struct_from_user}: bytes beyond the kernel's struct must be zero (E2BIG). */
    private void checkZeroTail(long uptr, long len, long ksize) {
        if (len <= ksize) return;
        MemorySegment b = MemorySegment.ofArray(new byte[1]);
        for (long i = ksize; i < len; i++) {
            Err.when(!fd.memory.read(uptr + i, b, 0, 1), Err.EFAULT);
            Err.when(b.get(ValueLayout.JAVA_BYTE, 0) != 0, Err.E2BIG);
        }
    }

    /** {@code iommufd_vdevice_alloc_ioctl}. */
    int vdeviceAlloc(Call c) {
        MemorySegment k = c.k;
        SwViommu v = (SwViommu) fd.objects.get(iommu_vdevice_alloc.viommu_id(k), SwObject.Kind.VIOMMU);
        SwDevice dev = fd.device(iommu_vdevice_alloc.dev_id(k));
        long virtId = iommu_vdevice_alloc.virt_id(k);
        if (dev.vdev != null) return -Err.EEXIST;
        int id = fd.objects.reserve();
        if (v.vdevs.containsKey(virtId)) {
            fd.objects.release(id);
            return -Err.EEXIST;
        }
        iommu_vdevice_alloc.out_vdevice_id(k, id);
        int rc = c.respond();
        if (rc != 0) {
            fd.objects.release(id);
            return rc;
        }
        SwVdevice vd = new SwVdevice(id, v, dev, virtId);
        v.vdevs.put(virtId, vd);
        v.users++;
        dev.vdev = vd;
        dev.users++;
        fd.objects.publish(vd);
        return 0;
    }

    /** {@code iommufd_veventq_alloc} (docs/kernel-behaviour.md §5.7). */
    int veventqAlloc(Call c) {
        MemorySegment k = c.k;
        int type = iommu_veventq_alloc.type(k);
        if (iommu_veventq_alloc.flags(k) != 0 || iommu_veventq_alloc.__reserved(k) != 0 || type == 0) return -Err.EOPNOTSUPP;
        long depth = Integer.toUnsignedLong(iommu_veventq_alloc.veventq_depth(k));
        if (depth == 0 || depth > VEVENTQ_MAX_DEPTH) return -Err.EINVAL;
        SwViommu v = (SwViommu) fd.objects.get(iommu_veventq_alloc.viommu_id(k), SwObject.Kind.VIOMMU);
        if (v.veventqs.containsKey(type)) return -Err.EEXIST;
        int id = fd.objects.reserve();
        int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0) {
            fd.objects.release(id);
            return efd;
        }
        SwVeventq q = new SwVeventq(id, v, type, (int) depth, efd);
        iommu_veventq_alloc.out_veventq_id(k, id);
        iommu_veventq_alloc.out_veventq_fd(k, efd);
        int rc = c.respond();
        if (rc != 0) {
            q.destroy();
            fd.objects.release(id);
            return rc;
        }
        v.veventqs.put(type, q);
        v.users++;
        fd.objects.publish(q);
        fd.putFd(efd, q);
        return 0;
    }

    /**
     * {@code iommufd_hw_queue_alloc_ioctl} + {@code mock_hw_queue_init_phys}. The range is pinned
     * and locked in the nesting parent's IOAS. The kernel also needs the pages physically
     * contiguous (EFAULT otherwise); this backend has no physical addresses and takes any range.
     */
    int hwQueueAlloc(Call c) {
        MemorySegment k = c.k;
        int type = iommu_hw_queue_alloc.type(k), index = iommu_hw_queue_alloc.index(k);
        long iova = iommu_hw_queue_alloc.nesting_parent_iova(k), length = iommu_hw_queue_alloc.length(k);
        if (iommu_hw_queue_alloc.flags(k) != 0 || type == 0) return -Err.EOPNOTSUPP;
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(iova, length - 1)) return -Err.EOVERFLOW;
        SwViommu v = (SwViommu) fd.objects.get(iommu_hw_queue_alloc.viommu_id(k), SwObject.Kind.VIOMMU);
        if (type != HW_QUEUE_TYPE_SELFTEST) return -Err.EOPNOTSUPP;
        long aligned = iova & -PAGE_SIZE, offset = iova - aligned;
        if (U64.addOverflows(offset, length) || U64.addOverflows(offset + length, PAGE_SIZE - 1)) return -Err.ERANGE;
        long pinned = (offset + length + PAGE_SIZE - 1) & -PAGE_SIZE;
        int id = fd.objects.reserve();
        int accessId;
        try {
            accessId = fd.objects.reserve();
        } catch (Fail f) {
            fd.objects.release(id);
            throw f;
        }
        SwIoas ioas = v.parent.ioas;
        try {
            ioas.pages(aligned, pinned); // iommufd_access_pin_pages: the whole range must be mapped (ENOENT)
        } catch (Fail f) {
            fd.objects.release(accessId);
            fd.objects.release(id);
            throw f;
        }
        int rc = 0;
        if (Integer.compareUnsigned(index, SwViommu.HW_QUEUE_MAX) >= 0) rc = -Err.EINVAL;
        else if (v.hwQueues[index] != null) rc = -Err.EEXIST;
        else if (index > 0 && v.hwQueues[index - 1] == null) rc = -Err.EIO;
        if (rc != 0) {
            fd.objects.release(accessId);
            fd.objects.release(id);
            return rc;
        }
        SwHwQueue q = new SwHwQueue(id, v, index, accessId, aligned, aligned + pinned - 1, index > 0 ? v.hwQueues[index - 1] : null);
        ioas.lock(q.lockedStart, q.lockedLast);
        v.hwQueues[index] = q;
        v.users++;
        if (q.prev != null) q.prev.users++;
        iommu_hw_queue_alloc.out_hw_queue_id(k, id);
        rc = c.respond();
        if (rc != 0) {
            fd.destroyHwQueue(q);
            return rc;
        }
        fd.objects.publish(q);
        return 0;
    }

    /**
     * {@code mock_viommu_cache_invalidate}: each entry clears a device cache slot (or all of them)
     * of the device behind a vDEVICE; {@code done[0]} counts the entries handled.
     */
    int invalidate(SwViommu v, int type, long uptr, long len, long num, int[] done) {
        if (num == 0 && type == INVALIDATE_DATA_SELFTEST) return 0;
        if (type != INVALIDATE_DATA_SELFTEST || num == 0) return -Err.EINVAL;
        long size = iommu_viommu_invalidate_selftest.sizeof();
        // iommu_copy_struct_from_full_user_array: every entry is copied before any is handled.
        MemorySegment all = MemorySegment.ofArray(new long[(int) ((num * size + 7) / 8)]);
        for (long i = 0; i < num; i++) {
            long n = Math.min(len, size);
            if (!fd.memory.read(uptr + i * len, all, i * size, n)) return -Err.EFAULT;
            try {
                checkZeroTail(uptr + i * len, len, size);
            } catch (Fail f) {
                return -f.errno;
            }
        }
        for (long i = 0; i < num; i++) {
            MemorySegment e = all.asSlice(i * size, size);
            int flags = iommu_viommu_invalidate_selftest.flags(e), cacheId = iommu_viommu_invalidate_selftest.cache_id(e);
            if ((flags & ~Abi.INVALIDATE_FLAG_ALL) != 0) return -Err.EOPNOTSUPP;
            if (Integer.compareUnsigned(cacheId, 3) > 0) return -Err.EINVAL;
            SwVdevice vd = v.vdevs.get(Integer.toUnsignedLong(iommu_viommu_invalidate_selftest.vdev_id(e)));
            if (vd == null) return -Err.EINVAL;
            if ((flags & Abi.INVALIDATE_FLAG_ALL) != 0) java.util.Arrays.fill(vd.device.cache, 0);
            else vd.device.cache[cacheId] = 0;
            done[0]++;
        }
        return 0;
    }

    /**
     * {@code iommufd_fops_mmap}: only a whole region, at its exact offset (ENXIO otherwise); a
     * live mapping holds the vIOMMU. Here the "mapping" is the region's own memory.
     */
    long mmap(long offset, long length) {
        if ((length & (PAGE_SIZE - 1)) != 0 || length == 0) return -Err.EINVAL;
        for (SwObject o : fd.objects.all()) {
            if (o instanceof SwViommu v && v.region != null && v.mmapOffset == offset) {
                if (length != v.region.byteSize()) return -Err.ENXIO;
                v.users++;
                v.mapped++;
                return v.region.address();
            }
        }
        return -Err.ENXIO;
    }

    int munmap(long address, long length) {
        for (SwObject o : fd.objects.all()) {
            if (o instanceof SwViommu v && v.region != null && v.region.address() == address && v.mapped > 0) {
                v.mapped--;
                v.users--;
                return 0;
            }
        }
        return -Err.EINVAL;
    }

    /** Built without {@code CONFIG_IOMMUFD_NOIOMMU}, the kernel refuses it after the size checks. */
    int noiommuGetPa(Call c) {
        return -Err.EOPNOTSUPP;
    }
}
