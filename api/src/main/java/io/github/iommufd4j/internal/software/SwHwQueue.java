package io.github.iommufd4j.internal.software;

/**
 * A mock HW queue (7.3 {@code viommu.c: iommufd_hw_queue_*}, {@code selftest.c: mock_hw_queue_*}):
 * pins and locks its IOVA range through an internal access (a hidden ID), holds its vIOMMU, and
 * queue i holds queue i-1 (docs/kernel-behaviour.md §2.4).
 */
final class SwHwQueue extends SwObject {
    final SwViommu viommu;
    final int index;
    /** The internal access's hidden ID. */
    final int accessId;
    /** The page-aligned range locked in the nesting parent's IOAS. */
    final long lockedStart, lockedLast;
    final SwHwQueue prev;

    SwHwQueue(int id, SwViommu viommu, int index, int accessId, long lockedStart, long lockedLast, SwHwQueue prev) {
        super(id);
        this.viommu = viommu;
        this.index = index;
        this.accessId = accessId;
        this.lockedStart = lockedStart;
        this.lockedLast = lockedLast;
        this.prev = prev;
    }

    @Override
    Kind kind() {
        return Kind.HW_QUEUE;
    }
}
