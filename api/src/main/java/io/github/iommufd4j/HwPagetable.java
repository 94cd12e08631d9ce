package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.Scratch;

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
        enter("IOMMU_HWPT_SET_DIRTY_TRACKING");
        try {
            MemorySegment s = Scratch.struct(iommu_hwpt_set_dirty_tracking.sizeof());
            iommu_hwpt_set_dirty_tracking.size(s, (int) iommu_hwpt_set_dirty_tracking.sizeof());
            iommu_hwpt_set_dirty_tracking.flags(s, enabled ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE() : 0);
            iommu_hwpt_set_dirty_tracking.hwpt_id(s, id);
            iommufd.ioctl(Command.HWPT_SET_DIRTY_TRACKING, s, "hwpt=" + id + ", enable=" + enabled);
        } finally {
            exit();
        }
    }

    /**
     * IOMMU_HWPT_GET_DIRTY_BITMAP: sets bit i of {@code bitmap} when page i of
     * {@code [iova, iova+length)} was written by a device; clears the dirty state unless {@code noClear}.
     */
    public void dirtyBitmap(long iova, long length, long pageSize, MemorySegment bitmap, boolean noClear) throws IommufdException {
        enter("IOMMU_HWPT_GET_DIRTY_BITMAP");
        iommufd.raw().registerMemory(bitmap);
        try {
            MemorySegment s = Scratch.struct(iommu_hwpt_get_dirty_bitmap.sizeof());
            iommu_hwpt_get_dirty_bitmap.size(s, (int) iommu_hwpt_get_dirty_bitmap.sizeof());
            iommu_hwpt_get_dirty_bitmap.hwpt_id(s, id);
            iommu_hwpt_get_dirty_bitmap.flags(s, noClear ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR() : 0);
            iommu_hwpt_get_dirty_bitmap.iova(s, iova);
            iommu_hwpt_get_dirty_bitmap.length(s, length);
            iommu_hwpt_get_dirty_bitmap.page_size(s, pageSize);
            iommu_hwpt_get_dirty_bitmap.data(s, bitmap.address());
            iommufd.ioctl(Command.HWPT_GET_DIRTY_BITMAP, s, "hwpt=" + id + ", iova=" + Ioas.hex(iova)
                    + ", length=" + Ioas.hex(length) + ", page_size=" + Ioas.hex(pageSize));
        } finally {
            iommufd.raw().unregisterMemory(bitmap);
            exit();
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE with an array of driver-specific entries (e.g.
     * {@code struct iommu_hwpt_vtd_s1_invalidate}); returns how many entries the kernel handled.
     * On failure the exception's arguments say how many were handled before it.
     */
    public int invalidate(int dataType, MemorySegment entries, int entryLen, int entryNum) throws IommufdException {
        enter("IOMMU_HWPT_INVALIDATE");
        try {
            return iommufd.invalidate(id, "hwpt=" + id, dataType, entries, entryLen, entryNum);
        } finally {
            exit();
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
        return "HwPagetable[" + id + (nested ? ", nested" : "") + "]";
    }
}
