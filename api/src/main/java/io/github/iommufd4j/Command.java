package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

/**
 * The iommufd commands, their ioctl numbers and the first Linux release that has each, so that a
 * missing one is reported as "needs Linux X" ({@link UnsupportedCommandException}) and
 * {@link Iommufd#supports(Command)} can be asked before use.
 */
public enum Command {
    /** IOMMU_DESTROY: destroys an object by id. */
    DESTROY(Uapi.IOMMU_DESTROY(), "6.2"),
    /** IOMMU_IOAS_ALLOC: {@link Iommufd#allocIoas()}. */
    IOAS_ALLOC(Uapi.IOMMU_IOAS_ALLOC(), "6.2"),
    /** IOMMU_IOAS_ALLOW_IOVAS: {@link Ioas#allowIovas}. */
    IOAS_ALLOW_IOVAS(Uapi.IOMMU_IOAS_ALLOW_IOVAS(), "6.2"),
    /** IOMMU_IOAS_COPY: {@link Ioas#copyTo}. */
    IOAS_COPY(Uapi.IOMMU_IOAS_COPY(), "6.2"),
    /** IOMMU_IOAS_IOVA_RANGES: {@link Ioas#iovaRanges()}. */
    IOAS_IOVA_RANGES(Uapi.IOMMU_IOAS_IOVA_RANGES(), "6.2"),
    /** IOMMU_IOAS_MAP: {@link Ioas#map}. */
    IOAS_MAP(Uapi.IOMMU_IOAS_MAP(), "6.2"),
    /** IOMMU_IOAS_UNMAP: {@link Ioas#unmap}. */
    IOAS_UNMAP(Uapi.IOMMU_IOAS_UNMAP(), "6.2"),
    /** IOMMU_OPTION: RLIMIT_MODE and HUGE_PAGES. */
    OPTION(Uapi.IOMMU_OPTION(), "6.2"),
    /** IOMMU_VFIO_IOAS: the VFIO compatibility IOAS. */
    VFIO_IOAS(Uapi.IOMMU_VFIO_IOAS(), "6.2"),
    /** IOMMU_HWPT_ALLOC: {@link Iommufd#allocHwpt}. */
    HWPT_ALLOC(Uapi.IOMMU_HWPT_ALLOC(), "6.6"),
    /** IOMMU_GET_HW_INFO: {@link Iommufd#hwInfo}. */
    GET_HW_INFO(Uapi.IOMMU_GET_HW_INFO(), "6.6"),
    /** IOMMU_HWPT_SET_DIRTY_TRACKING: {@link HwPagetable#setDirtyTracking}. */
    HWPT_SET_DIRTY_TRACKING(Uapi.IOMMU_HWPT_SET_DIRTY_TRACKING(), "6.7"),
    /** IOMMU_HWPT_GET_DIRTY_BITMAP: {@link HwPagetable#dirtyBitmap}. */
    HWPT_GET_DIRTY_BITMAP(Uapi.IOMMU_HWPT_GET_DIRTY_BITMAP(), "6.7"),
    /** IOMMU_HWPT_INVALIDATE: {@link HwPagetable#invalidate}, {@link Viommu#invalidate}. */
    HWPT_INVALIDATE(Uapi.IOMMU_HWPT_INVALIDATE(), "6.8"),
    /** IOMMU_FAULT_QUEUE_ALLOC: {@link Iommufd#allocFaultQueue()}. */
    FAULT_QUEUE_ALLOC(Uapi.IOMMU_FAULT_QUEUE_ALLOC(), "6.11"),
    /** IOMMU_IOAS_MAP_FILE: {@link Ioas#mapFile}. */
    IOAS_MAP_FILE(Uapi.IOMMU_IOAS_MAP_FILE(), "6.13"),
    /** IOMMU_VIOMMU_ALLOC: {@link Iommufd#allocViommu}. */
    VIOMMU_ALLOC(Uapi.IOMMU_VIOMMU_ALLOC(), "6.13"),
    /** IOMMU_VDEVICE_ALLOC: {@link Viommu#allocVdevice}. */
    VDEVICE_ALLOC(Uapi.IOMMU_VDEVICE_ALLOC(), "6.13"),
    /** IOMMU_IOAS_CHANGE_PROCESS: {@link Iommufd#changeProcess()}. */
    IOAS_CHANGE_PROCESS(Uapi.IOMMU_IOAS_CHANGE_PROCESS(), "6.14"),
    /** IOMMU_VEVENTQ_ALLOC: {@link Viommu#allocEventQueue}. */
    VEVENTQ_ALLOC(Uapi.IOMMU_VEVENTQ_ALLOC(), "6.15"),
    /** IOMMU_HW_QUEUE_ALLOC: {@link Viommu#allocHwQueue}. */
    HW_QUEUE_ALLOC(Uapi.IOMMU_HW_QUEUE_ALLOC(), "6.17"),
    /** IOMMU_IOAS_NOIOMMU_GET_PA: {@link Ioas#noiommuGetPa}. */
    IOAS_NOIOMMU_GET_PA(Uapi.IOMMU_IOAS_NOIOMMU_GET_PA(), "7.3"),
    /** The mock driver's command; present only with CONFIG_IOMMUFD_TEST. */
    TEST_CMD(Uapi.IOMMU_TEST_CMD(), "6.2 with CONFIG_IOMMUFD_TEST");

    private final long request;
    private final String since;

    Command(long request, String since) {
        this.request = request;
        this.since = since;
    }

    /**
     * The ioctl request number.
     *
     * @return e.g. 0x3b85 for IOAS_MAP
     */
    public long request() {
        return request;
    }

    /**
     * The first Linux release that has this command.
     *
     * @return e.g. "6.2", or "6.2 with CONFIG_IOMMUFD_TEST" for {@link #TEST_CMD}
     */
    public String since() {
        return since;
    }

    /**
     * The kernel's macro name, as errors show it.
     *
     * @return e.g. {@code IOMMU_IOAS_MAP}
     */
    public String ioctlName() {
        return this == TEST_CMD ? "IOMMU_TEST_CMD" : "IOMMU_" + name();
    }
}
