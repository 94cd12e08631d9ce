package io.github.iommufd4j.internal.software;

/**
 * A mock device bound to the iommufd (the kernel's {@code iommufd_device}, "idev"). Its ID can
 * never be destroyed directly (docs/kernel-behaviour.md §2.3): the binding driver holds a reference, so {@link #users}
 * starts at 1; the device goes away with its selftest object.
 */
final class SwDevice extends SwObject {
    /** MOCK_FLAGS_DEVICE_*: NO_DIRTY both, HUGE_IOVA 6.12 only, PASID 7.3 only (docs/kernel-behaviour.md §6.1). */
    static final int NO_DIRTY = 1, HUGE_IOVA = 2, PASID = 4;

    final int flags;
    /** The HWPT attached at the RID, or null. */
    SwHwpt hwpt;
    /** 7.3: the HWPTs attached at PASIDs other than 0 (IOMMU_NO_PASID, the RID), by PASID. */
    final java.util.TreeMap<Integer, SwHwpt> pasids = new java.util.TreeMap<>();
    /**
     * 7.3 mock quirk ({@code pasid_1024_fake_error}): the first attach of PASID 1024 arms it, the
     * next change of that PASID's domain fails with ENOMEM and disarms it; a detach disarms it.
     */
    boolean pasid1024Armed;
    /** 7.3: its vDEVICE, or null. */
    SwVdevice vdev;
    /** 7.3 mock: the vIOMMU of the nested HWPT it is attached to and the virt_id captured at attach (0: none). */
    SwViommu viommu;
    long vdevId;
    /** 7.3 mock: the device cache a vIOMMU invalidation clears ({@code MOCK_DEV_CACHE_NUM} slots). */
    final int[] cache = {CACHE_DEFAULT, CACHE_DEFAULT, CACHE_DEFAULT, CACHE_DEFAULT};
    static final int CACHE_DEFAULT = io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_TEST_DEV_CACHE_DEFAULT();
    /** The next page request group index for faults of DMA through this device (9 bits, as PCIe PRI). */
    int nextGroup;

    SwDevice(int id, int flags) {
        super(id);
        this.flags = flags;
        this.users = 1;
    }

    /** The HWPT attached at {@code pasid} (0: the RID), or null. */
    SwHwpt attached(int pasid) {
        return pasid == 0 ? hwpt : pasids.get(pasid);
    }

    /** {@code dev->iommu->max_pasids}: the mock's "pasid-num-bits" property is 20 with PASID, else 0 (one PASID). */
    long maxPasids() {
        return (flags & PASID) != 0 ? 1L << 20 : 1;
    }

    @Override
    Kind kind() {
        return Kind.DEVICE;
    }
}
