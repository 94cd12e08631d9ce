package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwInfo;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/** Page tables, mock devices and accesses, dirty tracking, invalidation and the fault queue. */
class HwptAndFaultContractTest extends ContractTestBase {
    Ioas ioas;
    MockDevice dev;

    @BeforeEach
    void device() throws Exception {
        requireMock();
        ioas = fd.allocIoas();
        dev = mock.addDevice(ioas);
    }

    /** A nested, IOPF-capable page table for the mock device, behind a fault queue. */
    HwPagetable nested(HwPagetable parent, FaultQueue q) throws Exception {
        return fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), q);
    }

    @Test
    void twoMockDevicesOnOneIoasShareTheAutoDomainWhichDiesWithTheLastOne() throws Exception {
        MockDevice second = mock.addDevice(ioas);
        assertEquals(dev.hwptId(), second.hwptId());
        int auto = dev.hwptId();
        dev.close();
        second.close();
        assertErrno("ENOENT", () -> fd.destroy(auto));
    }

    @Test
    void mockDeviceIdsComeInTheKernelsOrder() {
        // IOAS=1, then stdev, idev, auto HWPT.
        assertEquals(2, dev.stdevId());
        assertEquals(3, dev.deviceId());
        assertEquals(4, dev.hwptId());
    }

    @Test
    void mapIsVisibleInTheMockPageTable() throws Exception {
        MemorySegment m = buffer(4 * PAGE);
        long iova = ioas.map(m, Access.READ_WRITE);
        mock.checkMap(dev.hwptId(), iova, m);
        assertErrno("EINVAL", () -> mock.checkMap(dev.hwptId(), iova + 4 * PAGE, m));
    }

    @Test
    void pagingHwptOnAnIoasAndTheKernelsErrors() throws Exception {
        HwPagetable p = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        assertTrue(p.id() > dev.hwptId());
        assertErrno("ENOENT", () -> fd.allocHwpt(ioas.id(), ioas)); // dev_id is not a device
        MockDevice onHwpt = mock.addDevice(p);
        assertErrno("EBUSY", () -> fd.destroy(p.id()));
        onHwpt.close();
        p.close();
    }

    @Test
    void nestedHwptNeedsANestParent() throws Exception {
        HwPagetable plain = fd.allocHwpt(dev.deviceId(), ioas);
        assertErrno("EINVAL", () -> fd.allocNestedHwpt(dev.deviceId(), plain, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, 1), null));
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        HwPagetable child = fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, 0x1234), null);
        assertTrue(child.isNested());
        for (int slot = 0; slot < 4; slot++) mock.checkIotlb(child.id(), slot, 0x1234);
        assertErrno("EBUSY", () -> fd.destroy(parent.id()));
        assertErrno("EOPNOTSUPP", () -> fd.allocNestedHwpt(dev.deviceId(), parent, 0xdead + 1,
                MockDriver.selftestData(arena, 1), null));
    }

    @Test
    void invalidateClearsMockIotlbSlotsAndReportsHowManyEntriesWereHandled() throws Exception {
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        HwPagetable child = fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, 0x77), null);
        MemorySegment entries = arena.allocate(16, 4); // two {flags, iotlb_id}
        entries.set(ValueLayout.JAVA_INT, 4, 1);
        entries.set(ValueLayout.JAVA_INT, 12, 3);
        assertEquals(2, child.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, entries, 8, 2));
        mock.checkIotlb(child.id(), 0, 0x77);
        mock.checkIotlb(child.id(), 1, 0);
        mock.checkIotlb(child.id(), 3, 0);
        entries.set(ValueLayout.JAVA_INT, 12, 4); // second entry: iotlb_id 4 is out of range
        var e = assertErrno("EINVAL", () -> child.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, entries, 8, 2));
        assertTrue(e.arguments().contains("handled=1"), e.getMessage());
    }

    @Test
    void hwInfoOfAMockDevice() throws Exception {
        HwInfo info = fd.hwInfo(dev.deviceId());
        assertEquals(0xfeedbeef, info.type());
        assertEquals(0xdeadbeef, MemorySegment.ofArray(info.data()).get(ValueLayout.JAVA_INT_UNALIGNED, 4));
        assertTrue(info.dirtyTracking());
        assertErrno("ENOENT", () -> fd.hwInfo(0));
    }

    @Test
    void dirtyTrackingReportsPagesMarkedDirty() throws Exception {
        HwPagetable h = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.DIRTY_TRACKING);
        long iova = 0x1000000;
        ioas.map(buffer(64 * PAGE), iova, Access.READ_WRITE);
        MemorySegment bits = arena.allocate(64);
        // Both 2 KiB halves of two 4 KiB pages: 7.3's mock page table reports dirtiness per 4 KiB
        // leaf (both halves) and 6.12 per 2 KiB entry, so whole pages read back alike on both.
        bits.set(ValueLayout.JAVA_BYTE, 0, (byte) 0x33);
        long page = MockDriver.PAGE_SIZE;
        assertErrno("EINVAL", () -> mock.markDirty(h.id(), iova, 8 * page, page, bits)); // tracking off
        h.setDirtyTracking(true);
        assertEquals(4, mock.markDirty(h.id(), iova, 8 * page, page, bits));
        MemorySegment out = arena.allocate(64);
        h.dirtyBitmap(iova, 8 * page, page, out, false);
        // The IOMMU may track dirtiness per larger leaf (7.3's mock uses 4 KiB and bigger leaves for
        // contiguous memory), so more bits may come back, but never fewer.
        assertEquals(0x33, out.get(ValueLayout.JAVA_BYTE, 0) & 0x33, "dirty bits cover the marked pages");
        MemorySegment again = arena.allocate(64);
        h.dirtyBitmap(iova, 8 * page, page, again, false);
        assertEquals(0, again.get(ValueLayout.JAVA_BYTE, 0), "reading cleared the dirty state");
    }

    @Test
    void accessReadsAndWritesMemoryThroughTheIoas() throws Exception {
        MemorySegment m = buffer(2 * PAGE);
        long iova = ioas.map(m, Access.READ_WRITE);
        try (MockAccess access = mock.createAccess(ioas, false)) {
            MemorySegment data = arena.allocate(100);
            data.fill((byte) 0x5a);
            access.rw(iova + 10, data, true);
            assertEquals((byte) 0x5a, m.get(ValueLayout.JAVA_BYTE, 10));
            assertEquals((byte) 0x5a, m.get(ValueLayout.JAVA_BYTE, 109));
            assertEquals(0, m.get(ValueLayout.JAVA_BYTE, 110));
            m.set(ValueLayout.JAVA_BYTE, PAGE + 1, (byte) 7);
            MemorySegment back = arena.allocate(2);
            access.rw(iova + PAGE, back, false);
            assertEquals(7, back.get(ValueLayout.JAVA_BYTE, 1));
            assertErrno("ENOENT", () -> access.rw(iova + 2 * PAGE - 1, arena.allocate(2), false));
        }
    }

    @Test
    void accessWriteToAReadOnlyMappingIsEPERM() throws Exception {
        long iova = ioas.map(buffer(PAGE), Access.READ);
        try (MockAccess access = mock.createAccess(ioas, false)) {
            assertErrno("EPERM", () -> access.rw(iova, arena.allocate(8), true));
        }
    }

    @Test
    void faultQueueDeliversTriggeredFaultsAndTakesResponses() throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        HwPagetable iopf = nested(parent, q);
        dev.replace(iopf.id());
        PageFaults faults = new PageFaults(16);
        assertEquals(0, q.read(faults), "an empty queue reads 0, never blocks");
        for (int g = 0; g < 3; g++) dev.triggerPageFault(0, 10 + g, PageFaults.PERM_READ, 0x10000L + g * PAGE);
        assertTrue(q.await(5000));
        assertEquals(3, q.read(faults));
        PageResponses answers = new PageResponses(16);
        for (int i = 0; i < 3; i++) {
            assertEquals(dev.deviceId(), faults.deviceId(i));
            assertEquals(10 + i, faults.groupId(i));
            assertEquals(0x10000L + i * PAGE, faults.address(i));
            assertTrue(faults.lastPage(i));
            assertFalse(faults.pasidValid(i));
            answers.add(faults.cookie(i), PageResponses.SUCCESS);
        }
        assertEquals(3, q.respond(answers));
        answers.add(faults.cookie(0), PageResponses.SUCCESS); // already answered
        assertErrno("EINVAL", () -> q.respond(answers));
    }

    @Test
    void aPasidFaultCarriesThePasid() throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        dev.replace(nested(parent, q).id());
        dev.triggerPageFault(5, 1, PageFaults.PERM_WRITE, 0x2000);
        PageFaults faults = new PageFaults(4);
        assertEquals(1, q.readBlocking(faults, 5000));
        assertTrue(faults.pasidValid(0));
        assertEquals(5, faults.pasid(0));
        assertEquals(PageFaults.PERM_WRITE, faults.perm(0));
    }

    @Test
    void aFaultQueueInUseCannotBeDestroyed() throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        HwPagetable iopf = nested(parent, q);
        assertErrno("EBUSY", () -> fd.destroy(q.id()));
        iopf.close();
        q.close(); // closes the fd, then destroys the object
        assertErrno("ENOENT", () -> fd.destroy(q.id()));
    }

    @Test
    void closingTheIommufdClosesEveryHandle() throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        fd.close();
        assertTrue(q.isClosed());
        assertTrue(ioas.isClosed());
        assertTrue(dev.isClosed());
        assertErrno("EBADF", () -> q.read(new PageFaults(1)));
    }
}
