package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

/** IOMMU_HWPT_ALLOC flags (FAULT_ID_VALID is set by passing a fault queue). */
public enum HwptFlag {
    /** The page table can be the parent (stage 2) of nested page tables. */
    NEST_PARENT(Uapi.IOMMU_HWPT_ALLOC_NEST_PARENT()),
    /** Dirty tracking can be enabled (needs IOMMU support). */
    DIRTY_TRACKING(Uapi.IOMMU_HWPT_ALLOC_DIRTY_TRACKING()),
    /** The page table can be attached to a PASID (Linux 6.15+). */
    PASID(Uapi.IOMMU_HWPT_ALLOC_PASID());

    final int bit;

    HwptFlag(int bit) {
        this.bit = bit;
    }

    static int bits(HwptFlag... flags) {
        int b = 0;
        for (HwptFlag f : flags) b |= f.bit;
        return b;
    }
}
