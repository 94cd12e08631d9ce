package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.Uapi;

/** The UAPI numbers the handlers test, from the generated bindings (7.3 headers) plus 6.12-only ones. */
final class Abi {
    private Abi() {}

    static final int MAP_FIXED_IOVA = Uapi.IOMMU_IOAS_MAP_FIXED_IOVA();
    static final int MAP_WRITEABLE = Uapi.IOMMU_IOAS_MAP_WRITEABLE();
    static final int MAP_READABLE = Uapi.IOMMU_IOAS_MAP_READABLE();
    static final int MAP_FLAGS = MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE;

    static final int OPTION_RLIMIT_MODE = Uapi.IOMMU_OPTION_RLIMIT_MODE();
    static final int OPTION_HUGE_PAGES = Uapi.IOMMU_OPTION_HUGE_PAGES();
    static final int OPTION_OP_SET = Uapi.IOMMU_OPTION_OP_SET();
    static final int OPTION_OP_GET = Uapi.IOMMU_OPTION_OP_GET();

    static final int VFIO_IOAS_GET = Uapi.IOMMU_VFIO_IOAS_GET();
    static final int VFIO_IOAS_SET = Uapi.IOMMU_VFIO_IOAS_SET();
    static final int VFIO_IOAS_CLEAR = Uapi.IOMMU_VFIO_IOAS_CLEAR();

    static final int HWPT_NEST_PARENT = Uapi.IOMMU_HWPT_ALLOC_NEST_PARENT();
    static final int HWPT_DIRTY_TRACKING = Uapi.IOMMU_HWPT_ALLOC_DIRTY_TRACKING();
    static final int HWPT_FAULT_ID_VALID = Uapi.IOMMU_HWPT_FAULT_ID_VALID();
    static final int HWPT_PASID = Uapi.IOMMU_HWPT_ALLOC_PASID();
    static final int HWPT_DATA_NONE = Uapi.IOMMU_HWPT_DATA_NONE();
    static final int HWPT_DATA_SELFTEST = Uapi.IOMMU_HWPT_DATA_SELFTEST();
    static final int INVALIDATE_DATA_SELFTEST = Uapi.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST();
    static final int INVALIDATE_FLAG_ALL = Uapi.IOMMU_TEST_INVALIDATE_FLAG_ALL();
    static final int DIRTY_TRACKING_ENABLE = Uapi.IOMMU_HWPT_DIRTY_TRACKING_ENABLE();
    static final int DIRTY_BITMAP_NO_CLEAR = Uapi.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR();

    static final int HW_INFO_FLAG_INPUT_TYPE = Uapi.IOMMU_HW_INFO_FLAG_INPUT_TYPE();
    static final int HW_INFO_TYPE_SELFTEST = Uapi.IOMMU_HW_INFO_TYPE_SELFTEST();
    static final int HW_INFO_SELFTEST_REGVAL = Uapi.IOMMU_HW_INFO_SELFTEST_REGVAL();
    static final long HW_CAP_DIRTY_TRACKING = Uapi.IOMMU_HW_CAP_DIRTY_TRACKING();
    static final long HW_CAP_PCI_ATS_NOT_SUPPORTED = Uapi.IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED();

    static final int PERM_READ = Uapi.IOMMU_PGFAULT_PERM_READ();
    static final int PERM_WRITE = Uapi.IOMMU_PGFAULT_PERM_WRITE();

    /** TEST_CMD op numbers (docs/kernel-behaviour.md §6.1). */
    static final int OP_ADD_RESERVED = Uapi.IOMMU_TEST_OP_ADD_RESERVED(), OP_MOCK_DOMAIN = Uapi.IOMMU_TEST_OP_MOCK_DOMAIN(),
            OP_MD_CHECK_MAP = Uapi.IOMMU_TEST_OP_MD_CHECK_MAP(), OP_MD_CHECK_REFS = Uapi.IOMMU_TEST_OP_MD_CHECK_REFS(),
            OP_CREATE_ACCESS = Uapi.IOMMU_TEST_OP_CREATE_ACCESS(),
            OP_DESTROY_ACCESS_PAGES = Uapi.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES(),
            OP_ACCESS_PAGES = Uapi.IOMMU_TEST_OP_ACCESS_PAGES(), OP_ACCESS_RW = Uapi.IOMMU_TEST_OP_ACCESS_RW(),
            OP_SET_TEMP_MEMORY_LIMIT = Uapi.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT(),
            OP_MOCK_DOMAIN_REPLACE = Uapi.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE(),
            OP_ACCESS_REPLACE_IOAS = Uapi.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS(),
            OP_MOCK_DOMAIN_FLAGS = Uapi.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS(), OP_DIRTY = Uapi.IOMMU_TEST_OP_DIRTY(),
            OP_MD_CHECK_IOTLB = Uapi.IOMMU_TEST_OP_MD_CHECK_IOTLB(), OP_TRIGGER_IOPF = Uapi.IOMMU_TEST_OP_TRIGGER_IOPF(),
            OP_DEV_CHECK_CACHE = Uapi.IOMMU_TEST_OP_DEV_CHECK_CACHE(), OP_TRIGGER_VEVENT = Uapi.IOMMU_TEST_OP_TRIGGER_VEVENT(),
            OP_PASID_ATTACH = Uapi.IOMMU_TEST_OP_PASID_ATTACH(), OP_PASID_REPLACE = Uapi.IOMMU_TEST_OP_PASID_REPLACE(),
            OP_PASID_DETACH = Uapi.IOMMU_TEST_OP_PASID_DETACH(), OP_PASID_CHECK_HWPT = Uapi.IOMMU_TEST_OP_PASID_CHECK_HWPT(),
            OP_DMABUF_GET = Uapi.IOMMU_TEST_OP_DMABUF_GET(), OP_DMABUF_REVOKE = Uapi.IOMMU_TEST_OP_DMABUF_REVOKE();

    static final int ACCESS_CREATE_NEEDS_PIN_PAGES = Uapi.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES();
    static final int ACCESS_WRITE = Uapi.MOCK_FLAGS_ACCESS_WRITE();
    /** {@code MOCK_FLAGS_ACCESS_SYZ}: the IOVA is "(n-th area, offset)" (docs/kernel-behaviour.md §3.4 row 0). */
    static final int ACCESS_SYZ = Uapi.MOCK_FLAGS_ACCESS_SYZ();
    static final int ACCESS_RW_WRITE = Uapi.MOCK_ACCESS_RW_WRITE();
    static final int ACCESS_RW_SLOW_PATH = Uapi.MOCK_ACCESS_RW_SLOW_PATH();
}
