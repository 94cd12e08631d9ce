package io.github.iommufd4j.internal.software;

import java.lang.foreign.MemorySegment;

/**
 * One ioctl as a handler sees it: the kernel's zero-filled copy of the struct ({@code k}, the
 * command's full size) and the caller's struct, for {@code iommufd_ucmd_respond}.
 */
final class Call {
    MemorySegment k;
    private MemorySegment user;
    /** The caller's {@code size} field. */
    private long size;

    /** Reused for every ioctl (they run one at a time, under the lock): no allocation per call. */
    Call set(MemorySegment k, MemorySegment user, long size) {
        this.k = k;
        this.user = user;
        this.size = size;
        return this;
    }

    /** {@code iommufd_ucmd_respond}: copies {@code min(size, sizeof)} bytes back; 0 or -EFAULT. */
    int respond() {
        return UserCopy.copy(k, 0, user, 0, Math.min(size, k.byteSize())) ? 0 : -Err.EFAULT;
    }

    /** Copies back one field (IOMMU_OPTION's {@code val64}, docs/kernel-behaviour.md §1.2); 0 or -EFAULT. */
    int respondField(long offset, long length) {
        return UserCopy.copy(k, offset, user, offset, length) ? 0 : -Err.EFAULT;
    }
}
