package io.github.iommufd4j.contract;

import io.github.iommufd4j.Command;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * Flags, reserved fields and ids of the wrong kind, through raw structs (docs/kernel-behaviour.md
 * §1.4, §2.2, §3).
 */
class ReservedFieldsContractTest extends ContractTestBase {

    MemorySegment struct(java.lang.foreign.MemoryLayout layout) {
        MemorySegment s = arena.allocate(layout);
        s.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, (int) layout.byteSize());
        return s;
    }

    @Test
    void ioasAllocWithFlagsIsEOPNOTSUPP() {
        MemorySegment s = struct(iommu_ioas_alloc.layout());
        iommu_ioas_alloc.flags(s, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_ALLOC.request(), s));
    }

    @Test
    void mapChecksFlagsReservedAccessAndOverflowBeforeTheIoas() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment m = buffer(PAGE);
        MemorySegment s = struct(iommu_ioas_map.layout());
        iommu_ioas_map.ioas_id(s, ioas.id());
        iommu_ioas_map.user_va(s, m.address());
        iommu_ioas_map.length(s, PAGE);
        iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_READABLE() | (1 << 10));
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_MAP.request(), s));
        iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_READABLE());
        iommu_ioas_map.__reserved(s, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_MAP.request(), s));
        iommu_ioas_map.__reserved(s, 0);
        iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_FIXED_IOVA());
        assertErrno("EINVAL", () -> fd.ioctl(Command.IOAS_MAP.request(), s)); // neither READ nor WRITE
        iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_READABLE() | IOMMU_IOAS_MAP_FIXED_IOVA());
        iommu_ioas_map.iova(s, -1L);
        iommu_ioas_map.ioas_id(s, 99);
        assertErrno("EOVERFLOW", () -> fd.ioctl(Command.IOAS_MAP.request(), s)); // before the lookup
        iommu_ioas_map.iova(s, 0x1000);
        assertErrno("ENOENT", () -> fd.ioctl(Command.IOAS_MAP.request(), s));
    }

    @Test
    void iovaRangesAndAllowIovasRefuseReservedBits() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment r = struct(iommu_ioas_iova_ranges.layout());
        iommu_ioas_iova_ranges.ioas_id(r, ioas.id());
        iommu_ioas_iova_ranges.__reserved(r, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_IOVA_RANGES.request(), r));
        MemorySegment a = struct(iommu_ioas_allow_iovas.layout());
        iommu_ioas_allow_iovas.ioas_id(a, ioas.id());
        iommu_ioas_allow_iovas.__reserved(a, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_ALLOW_IOVAS.request(), a));
    }

    @Test
    void iovaRangesWithNoRoomIsEMSGSIZEAndStillReportsTheCount() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment r = struct(iommu_ioas_iova_ranges.layout());
        iommu_ioas_iova_ranges.ioas_id(r, ioas.id());
        iommu_ioas_iova_ranges.num_iovas(r, 0);
        try {
            fd.ioctl(Command.IOAS_IOVA_RANGES.request(), r);
            org.junit.jupiter.api.Assertions.fail("expected EMSGSIZE");
        } catch (io.github.iommufd4j.IommufdException e) {
            org.junit.jupiter.api.Assertions.assertEquals("EMSGSIZE", e.errnoName());
        }
        org.junit.jupiter.api.Assertions.assertEquals(1, iommu_ioas_iova_ranges.num_iovas(r));
    }

    @Test
    void optionRefusesUnknownIdsReservedBitsAndBadValues() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment s = struct(iommu_option.layout());
        iommu_option.option_id(s, 77);
        iommu_option.op(s, (short) IOMMU_OPTION_OP_GET());
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.OPTION.request(), s));
        iommu_option.option_id(s, IOMMU_OPTION_HUGE_PAGES());
        iommu_option.object_id(s, ioas.id());
        iommu_option.__reserved(s, (short) 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.OPTION.request(), s));
        iommu_option.__reserved(s, (short) 0);
        iommu_option.op(s, (short) IOMMU_OPTION_OP_SET());
        iommu_option.val64(s, 2);
        assertErrno("EINVAL", () -> fd.ioctl(Command.OPTION.request(), s));
        iommu_option.object_id(s, 0);
        assertErrno("ENOENT", () -> fd.ioctl(Command.OPTION.request(), s)); // object checked before the value
    }

    @Test
    void vfioIoasRefusesUnknownOpsAndMissingIoas() {
        MemorySegment s = struct(iommu_vfio_ioas.layout());
        iommu_vfio_ioas.op(s, (short) 9);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.VFIO_IOAS.request(), s));
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_SET());
        iommu_vfio_ioas.ioas_id(s, 0);
        assertErrno("ENOENT", () -> fd.ioctl(Command.VFIO_IOAS.request(), s));
    }

    @Test
    void faultQueueAllocWithFlagsIsEOPNOTSUPP() {
        MemorySegment s = struct(iommu_fault_alloc.layout());
        iommu_fault_alloc.flags(s, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.FAULT_QUEUE_ALLOC.request(), s));
    }

    @Test
    void hwptAllocChecksReservedDataAndPtId() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        MemorySegment s = struct(iommu_hwpt_alloc.layout());
        iommu_hwpt_alloc.dev_id(s, dev.deviceId());
        iommu_hwpt_alloc.pt_id(s, ioas.id());
        iommu_hwpt_alloc.__reserved(s, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.HWPT_ALLOC.request(), s));
        iommu_hwpt_alloc.__reserved(s, 0);
        iommu_hwpt_alloc.data_len(s, 4); // data type NONE with data
        assertErrno("EINVAL", () -> fd.ioctl(Command.HWPT_ALLOC.request(), s));
        iommu_hwpt_alloc.data_len(s, 0);
        iommu_hwpt_alloc.pt_id(s, 999); // a missing pt_id is EINVAL here, not ENOENT
        assertErrno("EINVAL", () -> fd.ioctl(Command.HWPT_ALLOC.request(), s));
        iommu_hwpt_alloc.pt_id(s, dev.deviceId()); // a device is no page table
        assertErrno("EINVAL", () -> fd.ioctl(Command.HWPT_ALLOC.request(), s));
    }

    @Test
    void dirtyTrackingCommandsRefuseUnknownFlags() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        MemorySegment t = struct(iommu_hwpt_set_dirty_tracking.layout());
        iommu_hwpt_set_dirty_tracking.hwpt_id(t, dev.hwptId());
        iommu_hwpt_set_dirty_tracking.flags(t, 2);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.HWPT_SET_DIRTY_TRACKING.request(), t));
        MemorySegment b = struct(iommu_hwpt_get_dirty_bitmap.layout());
        iommu_hwpt_get_dirty_bitmap.hwpt_id(b, dev.hwptId());
        iommu_hwpt_get_dirty_bitmap.flags(b, 2);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.HWPT_GET_DIRTY_BITMAP.request(), b));
    }

    @Test
    void objectsOfTheWrongKind() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        MemorySegment u = struct(iommu_ioas_unmap.layout());
        iommu_ioas_unmap.ioas_id(u, dev.hwptId()); // a page table is no IOAS
        iommu_ioas_unmap.iova(u, 0x1000000);
        iommu_ioas_unmap.length(u, PAGE);
        assertErrno("ENOENT", () -> fd.ioctl(Command.IOAS_UNMAP.request(), u));
        assertErrno("EBUSY", () -> fd.destroy(dev.deviceId())); // the bound device is held by its driver
        assertErrno("EINVAL", () -> dev.replace(dev.deviceId())); // replace onto a device: wrong type
    }
}
