package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

/**
 * What a device may do through a mapping (IOMMU_IOAS_MAP_READABLE / _WRITEABLE). Memory a
 * device may write must be writable in the process; the kernel pins it for write.
 */
public enum Access {
    /** The device may read the memory (DMA to the device). */
    READ(Uapi.IOMMU_IOAS_MAP_READABLE()),
    /** The device may write the memory (DMA from the device); it may not read it. */
    WRITE(Uapi.IOMMU_IOAS_MAP_WRITEABLE()),
    /** The device may read and write the memory: guest RAM. */
    READ_WRITE(Uapi.IOMMU_IOAS_MAP_READABLE() | Uapi.IOMMU_IOAS_MAP_WRITEABLE());

    final int flags;

    Access(int flags) {
        this.flags = flags;
    }

    /** Whether a device may write through such a mapping (the kernel then pins the memory for write). */
    boolean deviceWrites() {
        return (flags & Uapi.IOMMU_IOAS_MAP_WRITEABLE()) != 0;
    }

    /** The access named by IOMMU_IOAS_MAP_* flag bits, for error messages. */
    static String describe(int mapFlags) {
        int rw = mapFlags & READ_WRITE.flags;
        for (Access a : values()) if (a.flags == rw) return a.name();
        return "none";
    }
}
