package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * A hardware page table (IOMMU_HWPT_ALLOC) in the format of a device's IOMMU: a
 * <em>paging</em> table made on an {@link Ioas}, which mirrors what the IOAS maps, or a
 * <em>nested</em> (stage-1) table made on a {@link HwptFlag#NEST_PARENT} table or through a
 * {@link Viommu}, whose contents the guest owns. Devices are attached to it by id
 * ({@link VfioDevice#attach(int)}, {@link MockDevice#replace(int)}).
 *
 * <p>Made with {@link HwptFlag#DIRTY_TRACKING}, a paging table records which pages devices
 * wrote, e.g. for live migration:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=dirty}
 *
 * <p>Closed before the IOAS, parent or fault queue it was made on; the kernel refuses to destroy
 * it while a device is attached (EBUSY).
 */
public final class HwPagetable extends Handle {
    private final int id;
    private final boolean nested;

    HwPagetable(Iommufd iommufd, int id, boolean nested) {
        super(iommufd);
        this.id = id;
        this.nested = nested;
    }

    /**
     * The kernel's object id: what attach, replace and {@code pt_id} arguments take.
     *
     * @return the HWPT id
     */
    public int id() {
        return id;
    }

    /**
     * Whether this is a nested (stage-1) page table.
     *
     * @return true when made on a NEST_PARENT table or through a vIOMMU
     */
    public boolean isNested() {
        return nested;
    }

    /**
     * IOMMU_HWPT_SET_DIRTY_TRACKING: starts or stops recording which pages devices write. Enabling
     * first clears every dirty bit; enabling twice is harmless.
     *
     * @param enabled true to start, false to stop
     * @throws IommufdException EOPNOTSUPP when the table was made without
     *         {@link HwptFlag#DIRTY_TRACKING}
     */
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
     * IOMMU_HWPT_GET_DIRTY_BITMAP: sets bit {@code i} of {@code bitmap} when page {@code i} of
     * {@code [iova, iova+length)} was written by a device (bits counted from {@code iova},
     * least significant first in little-endian 64-bit words). The kernel only sets bits: zero the
     * bitmap first. Parts of the range that are not mapped, or tracking that is off, report nothing
     * rather than fail. The IOMMU may report dirtiness per larger page than {@code pageSize} (more
     * bits set, never fewer).
     *
     * @param iova     the first IOVA, aligned to {@code pageSize} and to the IOAS alignment
     * @param length   bytes, a multiple of {@code pageSize}
     * @param pageSize bytes per bitmap bit, e.g. 4096
     * @param bitmap   writable native memory of at least {@code ceil(length / pageSize / 64) * 8}
     *                 bytes (the kernel writes whole 64-bit words)
     * @param noClear  true to leave the dirty state in place; false clears what was reported
     * @throws IommufdException EINVAL for length 0, page size 0 or an unaligned range, EOVERFLOW for a
     *         range that wraps, EOPNOTSUPP when the table was made without dirty tracking, ENOENT for a
     *         nested table
     * @throws IllegalArgumentException when {@code bitmap} is not native, not writable or too small
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
     * IOMMU_HWPT_INVALIDATE of a nested page table: flushes the IOMMU's caches (IOTLB) for what
     * the guest changed in its stage-1 table, with an array of driver-specific entries (e.g.
     * {@code struct iommu_hwpt_vtd_s1_invalidate}). The kernel handles the entries in order and
     * stops at the first failure.
     *
     * @param dataType the driver's invalidation data type, e.g. {@code IOMMU_HWPT_INVALIDATE_DATA_VTD_S1}
     *                 or {@link MockDriver#INVALIDATE_DATA_SELFTEST}
     * @param entries  native memory holding {@code entryLen * entryNum} bytes
     * @param entryLen bytes per entry (the driver's struct size; at most a page)
     * @param entryNum number of entries (at most 2^19; 0 only checks the type)
     * @return how many entries the kernel handled
     * @throws IommufdException EINVAL for a wrong data type or entry length, EOPNOTSUPP for unknown
     *         entry flags, ENOENT (6.12) or EINVAL (7.x) for a paging table; the exception's arguments
     *         carry {@code handled=} (entries done before the failure)
     * @throws IllegalArgumentException for a negative length or count, or entries that are not native
     *         or too small
     */
    public int invalidate(int dataType, MemorySegment entries, int entryLen, int entryNum) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_INVALIDATE")) {
            return Iommufd.invalidate(k, "hwpt", id, dataType, entries, entryLen, entryNum);
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

    /**
     * Names the table by id, nested or not, closed or not.
     *
     * @return e.g. {@code HwPagetable[5, nested]}
     */
    @Override
    public String toString() {
        return "HwPagetable[" + id + (nested ? ", nested" : "") + (isClosed() ? ", closed" : "") + "]";
    }
}
