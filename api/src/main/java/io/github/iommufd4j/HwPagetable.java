package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/** A hardware page table (IOMMU_HWPT_ALLOC): paging (on an IOAS) or nested (on a NEST_PARENT one). */
public final class HwPagetable extends Handle {
    private final int id;
    private final boolean nested;

    HwPagetable(Iommufd iommufd, int id, boolean nested) {
        super(iommufd);
        this.id = id;
        this.nested = nested;
    }

    public int id() {
        return id;
    }

    /** True for a nested (stage-1) page table. */
    public boolean isNested() {
        return nested;
    }

    /** IOMMU_HWPT_SET_DIRTY_TRACKING. */
    public void setDirtyTracking(boolean enabled) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_SET_DIRTY_TRACKING")) {
            MemorySegment s = k.struct(iommu_hwpt_set_dirty_tracking.sizeof());
            iommu_hwpt_set_dirty_tracking.flags(s, enabled ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE() : 0);
            iommu_hwpt_set_dirty_tracking.hwpt_id(s, id);
            k.ioctl(Command.HWPT_SET_DIRTY_TRACKING, x -> "hwpt=" + iommu_hwpt_set_dirty_tracking.hwpt_id(x)
                    + ", enable=" + (iommu_hwpt_set_dirty_tracking.flags(x) != 0));
        }
    }

    /**
     * The bytes of bitmap the kernel may write for {@code [iova, iova+length)}: one bit per page
     * (the kernel's page shift is that of the lowest set bit of {@code pageSize}), in whole 64-bit
     * words; 0 where the kernel refuses the call before writing (no page size, no length, a range
     * that wraps).
     */
    static long bitmapBytes(long iova, long length, long pageSize) {
        if (pageSize == 0 || length == 0) return 0;
        long last = iova + length - 1;
        if (Long.compareUnsigned(last, iova) < 0) return 0; // EOVERFLOW
        int shift = Long.numberOfTrailingZeros(pageSize);
        long pages = ((last >>> shift) - (iova >>> shift)) + 1;
        if (Long.compareUnsigned(pages - 1, 1L << 58) >= 0) return Long.MAX_VALUE; // no segment holds it
        return ((pages + 63) >>> 6) * 8;
    }

    /**
     * IOMMU_HWPT_GET_DIRTY_BITMAP: sets bit i of {@code bitmap} when page i of
     * {@code [iova, iova+length)} was written by a device; clears the dirty state unless
     * {@code noClear}. {@code bitmap} must be writable native memory of at least
     * {@code ceil(pages / 64) * 8} bytes (the kernel writes whole 64-bit words).
     */
    public void dirtyBitmap(long iova, long length, long pageSize, MemorySegment bitmap, boolean noClear) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_GET_DIRTY_BITMAP")) {
            MemorySegment s = k.struct(iommu_hwpt_get_dirty_bitmap.sizeof());
            iommu_hwpt_get_dirty_bitmap.hwpt_id(s, id);
            iommu_hwpt_get_dirty_bitmap.flags(s, noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR() : 0);
            iommu_hwpt_get_dirty_bitmap.iova(s, iova);
            iommu_hwpt_get_dirty_bitmap.length(s, length);
            iommu_hwpt_get_dirty_bitmap.page_size(s, pageSize);
            iommu_hwpt_get_dirty_bitmap.data(s, k.kernelWrites(bitmap, bitmapBytes(iova, length, pageSize), "bitmap"));
            k.ioctl(Command.HWPT_GET_DIRTY_BITMAP, x -> "hwpt=" + iommu_hwpt_get_dirty_bitmap.hwpt_id(x)
                    + ", iova=" + Ioas.hex(iommu_hwpt_get_dirty_bitmap.iova(x)) + ", length=" + Ioas.hex(iommu_hwpt_get_dirty_bitmap.length(x))
                    + ", page_size=" + Ioas.hex(iommu_hwpt_get_dirty_bitmap.page_size(x)));
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE with an array of driver-specific entries (e.g.
     * {@code struct iommu_hwpt_vtd_s1_invalidate}); returns how many entries the kernel handled.
     * {@code entries} must hold {@code entryLen * entryNum} bytes. On failure the exception's
     * arguments say how many were handled before it.
     */
    public int invalidate(int dataType, MemorySegment entries, int entryLen, int entryNum) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_INVALIDATE")) {
            return Iommufd.invalidate(k, id, "hwpt=" + id, dataType, entries, entryLen, entryNum);
        }
    }

    @Override
    void release() throws IommufdException {
        iommufd.destroy(id);
    }

    @Override
    String describe() {
        return "hwpt=" + id;
    }

    @Override
    public String toString() {
        return "HwPagetable[" + id + (nested ? ", nested" : "") + (isClosed() ? ", closed" : "") + "]";
    }
}
