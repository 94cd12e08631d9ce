package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

/** What a device may do through a mapping (IOMMU_IOAS_MAP_READABLE / _WRITEABLE). */
public enum Access {
    READ(Uapi.IOMMU_IOAS_MAP_READABLE()),
    WRITE(Uapi.IOMMU_IOAS_MAP_WRITEABLE()),
    READ_WRITE(Uapi.IOMMU_IOAS_MAP_READABLE() | Uapi.IOMMU_IOAS_MAP_WRITEABLE());

    final int flags;

    Access(int flags) {
        this.flags = flags;
    }
}
