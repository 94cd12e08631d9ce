package io.github.iommufd4j.internal.software;

/**
 * A hardware page table of the mock driver (§4): a paging domain filled from its IOAS
 * (HWPT_PAGING, auto or allocated) or a nested domain on a NEST_PARENT paging one (HWPT_NESTED,
 * with the mock's 4-slot IOTLB). Translation of a nested domain goes through its parent's IOAS
 * (the mock's stage 1 is the identity).
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class SwHwpt extends SwObject {
    /** {@code MOCK_APERTURE_START/LAST} and {@code MOCK_IO_PAGE_SIZE}. */
    static final long MOCK_APERTURE_START = 1L << 24, MOCK_APERTURE_LAST = (1L << 31) - 1, MOCK_PAGE = 2048;

    final boolean nested;
    /** Paging: its IOAS. Nested: the parent's IOAS. */
    final SwIoas ioas;
    /** Nested: the parent HWPT_PAGING. */
    final SwHwpt parent;
    /** The HWPT_ALLOC flags (0 for auto domains). */
    final int allocFlags;
    final boolean auto;
    /** A paging domain has dirty ops only when allocated with DIRTY_TRACKING (§6.2 note). */
    final boolean dirtyOps;
    boolean dirtyTracking;
    final DirtyBits dirty = new DirtyBits();
    /** The fault queue (FAULT_ID_VALID), or null: then faults routed here are dropped (§5.2). */
    SwFault fault;
    /** Paging: the smallest IO page size and the aperture. */
    final long minPage, apertureStart, apertureLast;
    /** Nested: the mock IOTLB slots. */
    final int[] iotlb = new int[4];
    /** Nested through a vIOMMU (7.3): the vIOMMU it holds instead of the parent, else null. */
    SwViommu viommu;
    /**
     * Paging, 7.3: the generic page table's map refuses a mapping that is neither readable nor
     * writable (EINVAL, with a kernel WARN); only VFIO_IOMMU_MAP_DMA can make one.
     */
    boolean refusesNoAccess;
    /** Attachments (a device's RID or one of its PASIDs; each also holds one of {@link #users}). */
    int devices;

    private SwHwpt(int id, boolean nested, SwIoas ioas, SwHwpt parent, int allocFlags, boolean auto,
            boolean dirtyOps, long minPage, long apertureStart, long apertureLast) {
        super(id);
        this.nested = nested;
        this.ioas = ioas;
        this.parent = parent;
        this.allocFlags = allocFlags;
        this.auto = auto;
        this.dirtyOps = dirtyOps;
        this.minPage = minPage;
        this.apertureStart = apertureStart;
        this.apertureLast = apertureLast;
    }

    static SwHwpt paging(int id, SwIoas ioas, int allocFlags, boolean auto, boolean dirtyOps, boolean hugeType) {
        // 7.3 MOCK_IOMMUPT_HUGE: page sizes {4 KiB, 1 MiB} and the generic-PT aperture (§6.1, unsure).
        return hugeType
                ? new SwHwpt(id, false, ioas, null, allocFlags, auto, dirtyOps, U64.PAGE_SIZE, 0, (1L << 38) - 1)
                : new SwHwpt(id, false, ioas, null, allocFlags, auto, dirtyOps, MOCK_PAGE, MOCK_APERTURE_START,
                        MOCK_APERTURE_LAST);
    }

    static SwHwpt nested(int id, SwHwpt parent, int allocFlags, int iotlb) {
        SwHwpt h = new SwHwpt(id, true, parent.ioas, parent, allocFlags, false, false, parent.minPage,
                parent.apertureStart, parent.apertureLast);
        java.util.Arrays.fill(h.iotlb, iotlb);
        return h;
    }

    /** Whether the domain's map takes a mapping with this protection ({@link SwIoas#READ}, {@link SwIoas#WRITE}). */
    boolean maps(int prot) {
        return !refusesNoAccess || (prot & (SwIoas.READ | SwIoas.WRITE)) != 0;
    }

    @Override
    Kind kind() {
        return nested ? Kind.HWPT_NESTED : Kind.HWPT_PAGING;
    }

    /** The paging domain whose IOPTEs this HWPT's DMA goes through (itself, or a nested one's parent). */
    SwHwpt pagingDomain() {
        return nested ? parent : this;
    }

    boolean nestParent() {
        return (allocFlags & 1) != 0;
    }

    /** 7.3 {@code pasid_compat}: allocated with IOMMU_HWPT_ALLOC_PASID (never an auto domain). */
    boolean pasidCompat() {
        return (allocFlags & Abi.HWPT_PASID) != 0;
    }

    /** Unmapped IOPTEs lose their dirty bit. */
    void clearDirty(long start, long last) {
        if (dirtyOps) dirty.clear(start, last);
    }
}
