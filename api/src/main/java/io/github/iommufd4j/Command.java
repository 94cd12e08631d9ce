package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

/**
 * The iommufd commands, their ioctl numbers and the first Linux release that has each, so a
 * missing one can be reported as "needs Linux X".
 */
public enum Command {
    DESTROY(Uapi.IOMMU_DESTROY(), "6.2"),
    IOAS_ALLOC(Uapi.IOMMU_IOAS_ALLOC(), "6.2"),
    IOAS_ALLOW_IOVAS(Uapi.IOMMU_IOAS_ALLOW_IOVAS(), "6.2"),
    IOAS_COPY(Uapi.IOMMU_IOAS_COPY(), "6.2"),
    IOAS_IOVA_RANGES(Uapi.IOMMU_IOAS_IOVA_RANGES(), "6.2"),
    IOAS_MAP(Uapi.IOMMU_IOAS_MAP(), "6.2"),
    IOAS_UNMAP(Uapi.IOMMU_IOAS_UNMAP(), "6.2"),
    OPTION(Uapi.IOMMU_OPTION(), "6.2"),
    VFIO_IOAS(Uapi.IOMMU_VFIO_IOAS(), "6.2"),
    HWPT_ALLOC(Uapi.IOMMU_HWPT_ALLOC(), "6.6"),
    GET_HW_INFO(Uapi.IOMMU_GET_HW_INFO(), "6.6"),
    HWPT_SET_DIRTY_TRACKING(Uapi.IOMMU_HWPT_SET_DIRTY_TRACKING(), "6.7"),
    HWPT_GET_DIRTY_BITMAP(Uapi.IOMMU_HWPT_GET_DIRTY_BITMAP(), "6.7"),
    HWPT_INVALIDATE(Uapi.IOMMU_HWPT_INVALIDATE(), "6.8"),
    FAULT_QUEUE_ALLOC(Uapi.IOMMU_FAULT_QUEUE_ALLOC(), "6.11"),
    IOAS_MAP_FILE(Uapi.IOMMU_IOAS_MAP_FILE(), "6.13"),
    VIOMMU_ALLOC(Uapi.IOMMU_VIOMMU_ALLOC(), "6.13"),
    VDEVICE_ALLOC(Uapi.IOMMU_VDEVICE_ALLOC(), "6.13"),
    IOAS_CHANGE_PROCESS(Uapi.IOMMU_IOAS_CHANGE_PROCESS(), "6.14"),
    VEVENTQ_ALLOC(Uapi.IOMMU_VEVENTQ_ALLOC(), "6.15"),
    HW_QUEUE_ALLOC(Uapi.IOMMU_HW_QUEUE_ALLOC(), "6.17"),
    IOAS_NOIOMMU_GET_PA(Uapi.IOMMU_IOAS_NOIOMMU_GET_PA(), "7.3"),
    /** The mock driver's command; present only with CONFIG_IOMMUFD_TEST. */
    TEST_CMD(Uapi.IOMMU_TEST_CMD(), "6.2 with CONFIG_IOMMUFD_TEST");

    private final long request;
    private final String since;

    Command(long request, String since) {
        this.request = request;
        this.since = since;
    }

    /** The ioctl request number, e.g. 0x3b85 for IOAS_MAP. */
    public long request() {
        return request;
    }

    /** The first Linux release that has this command. */
    public String since() {
        return since;
    }

    /** The kernel's macro name, e.g. {@code IOMMU_IOAS_MAP}. */
    public String ioctlName() {
        return this == TEST_CMD ? "IOMMU_TEST_CMD" : "IOMMU_" + name();
    }
}
