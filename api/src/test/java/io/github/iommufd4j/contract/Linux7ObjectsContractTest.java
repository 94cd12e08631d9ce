package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwQueue;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.Vdevice;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.VirtualEvents;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Linux 7.x objects (file-backed maps, CHANGE_PROCESS, vIOMMU, vDEVICE, vEVENTQ, HW queue,
 * NOIOMMU_GET_PA) with the mock driver, on kernels that have them (7.3; and the software
 * backend). {@code Linux612RefusalsTest} covers kernels without them.
 */
class Linux7ObjectsContractTest extends ContractTestBase {
    Ioas ioas;
    MockDevice dev;
    HwPagetable parent;

    @BeforeEach
    void objects() throws Exception {
        requireMock();
        assumeTrue(fd.supports(Command.VIOMMU_ALLOC), "kernel without the vIOMMU commands (before 6.13)");
        ioas = fd.allocIoas();
        dev = mock.addDevice(ioas);
        parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
    }

    Viommu viommu() throws Exception {
        return fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
    }

    /** The device attached to a nested page table of {@code v} through a vDEVICE with this virt_id. */
    HwPagetable attachThrough(Viommu v, long virtId) throws Exception {
        v.allocVdevice(dev.deviceId(), virtId);
        HwPagetable nested = v.allocNestedHwpt(dev.deviceId(), MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), null);
        dev.replace(nested.id());
        return nested;
    }

    static int memfd(long size) {
        int f = Libc.memfdCreate("iommufd4j-test", Libc.MFD_CLOEXEC);
        assertTrue(f >= 0, "memfd_create: " + f);
        assertEquals(0, Libc.ftruncate(f, size));
        return f;
    }

    // ---- IOAS_MAP_FILE and CHANGE_PROCESS ----

    @Test
    void mapFileMakesTheFilesPagesReachableThroughTheIoas() throws Exception {
        int file = memfd(4 * PAGE);
        try {
            long iova = ioas.mapFile(file, PAGE, 2 * PAGE, Access.READ_WRITE);
            MockAccess access = mock.createAccess(ioas, false);
            MemorySegment data = arena.allocate(32);
            data.setString(0, "through the IOVA");
            access.rw(iova + PAGE + 8, data, true);
            // The bytes landed in the file at start + offset.
            MemorySegment back = arena.allocate(32);
            assertEquals(32, Libc.pread(file, back, 32, PAGE + PAGE + 8));
            assertEquals("through the IOVA", back.getString(0));
            assertEquals(2 * PAGE, ioas.unmap(iova, 2 * PAGE));
        } finally {
            Libc.close(file);
        }
    }

    @Test
    void mapFileRefusesTheKernelsBadInput() throws Exception {
        int file = memfd(4 * PAGE);
        try {
            assertErrno("EINVAL", () -> ioas.mapFile(file, 0, 0, Access.READ));
            assertErrno("EOVERFLOW", () -> ioas.mapFile(file, -PAGE, 2 * PAGE, Access.READ));
            assertErrno("EBADF", () -> ioas.mapFile(-1, 0, PAGE, Access.READ));
            // With a domain attached the pages are pinned at once: beyond the end of the file is refused.
            assertErrno("EINVAL", () -> ioas.mapFile(file, 0, 5 * PAGE, Access.READ));
            ioas.mapFile(file, 0, PAGE, MockDriver.APERTURE_START, Access.READ);
            assertErrno("EEXIST", () -> ioas.mapFile(file, 0, PAGE, MockDriver.APERTURE_START, Access.READ));
        } finally {
            Libc.close(file);
        }
    }

    @Test
    void changeProcessMovesOnlyFileBackedMappings() throws Exception {
        int file = memfd(2 * PAGE);
        try {
            fd.changeProcess(); // nothing mapped: nothing to move
            long fileIova = ioas.mapFile(file, 0, 2 * PAGE, Access.READ_WRITE);
            fd.changeProcess();
            long anonIova = ioas.map(buffer(PAGE), Access.READ);
            assertErrno("EINVAL", fd::changeProcess);
            ioas.unmap(anonIova, PAGE);
            fd.changeProcess();
            ioas.unmap(fileIova, 2 * PAGE);
        } finally {
            Libc.close(file);
        }
    }

    // ---- vIOMMU and vDEVICE ----

    @Test
    void viommuNeedsANestParentAndAKnownType() throws Exception {
        HwPagetable plain = fd.allocHwpt(dev.deviceId(), ioas);
        assertErrno("EINVAL", () -> fd.allocViommu(dev.deviceId(), plain, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL));
        assertErrno("EOPNOTSUPP", () -> fd.allocViommu(dev.deviceId(), parent, 0xdead, MemorySegment.NULL));
        assertErrno("EOPNOTSUPP", () -> fd.allocViommu(dev.deviceId(), parent, 0, MemorySegment.NULL));
        assertErrno("ENOENT", () -> fd.allocViommu(ioas.id(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL));
        Viommu v = viommu();
        assertTrue(v.id() > parent.id());
        assertErrno("EBUSY", () -> fd.destroy(parent.id())); // the vIOMMU holds its nesting parent
        v.close();
        parent.close();
    }

    @Test
    void viommuDataIsWrittenBack() throws Exception {
        MemorySegment data = MockDriver.viommuData(arena, 0xcafe);
        Viommu v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, data);
        assertEquals(0xcafe, data.get(ValueLayout.JAVA_INT, 4), "out_data loops back in_data");
        long offset = data.get(ValueLayout.JAVA_LONG, 8), length = data.get(ValueLayout.JAVA_LONG, 16);
        assertEquals(2 * PAGE, length);
        assertTrue(offset != 0 && offset % PAGE == 0, "mmap offset 0x" + Long.toHexString(offset));
        assertErrno("EINVAL", () -> fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, arena.allocate(4)));
        // The region it reports can be mapped, exactly as reported; the mapping holds the vIOMMU.
        try (java.lang.foreign.Arena maps = java.lang.foreign.Arena.ofShared()) {
            MemorySegment region = v.mapRegion(maps, offset, length);
            assertEquals(0xcafe, region.get(ValueLayout.JAVA_INT, 0), "in_data in the region's first word");
            assertErrno("ENXIO", () -> v.mapRegion(maps, offset, PAGE));
            assertErrno("ENXIO", () -> v.mapRegion(maps, offset + 2 * PAGE, length));
            assertErrno("EBUSY", () -> fd.destroy(v.id()));
        }
        v.close();
    }

    @Test
    void vdevicesAreOnePerDeviceAndPerVirtualId() throws Exception {
        Viommu v = viommu();
        Vdevice vd = v.allocVdevice(dev.deviceId(), 0x99);
        assertEquals(0x99, vd.virtId());
        assertErrno("EEXIST", () -> v.allocVdevice(dev.deviceId(), 0x98));
        MockDevice other = mock.addDevice(ioas);
        assertErrno("EEXIST", () -> v.allocVdevice(other.deviceId(), 0x99));
        assertErrno("ENOENT", () -> v.allocVdevice(ioas.id(), 0x97));
        assertErrno("EBUSY", () -> fd.destroy(v.id()));
        vd.close();
        v.allocVdevice(other.deviceId(), 0x99).close();
        v.close();
    }

    @Test
    void aNestedPageTableOfAViommuNeedsTheDevicesVdevice() throws Exception {
        Viommu v = viommu();
        HwPagetable nested = v.allocNestedHwpt(dev.deviceId(), MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), null);
        assertTrue(nested.isNested());
        assertErrno("ENOENT", () -> dev.replace(nested.id()));
        v.allocVdevice(dev.deviceId(), 0x42);
        dev.replace(nested.id());
        mock.checkIotlb(nested.id(), 0, MockDriver.IOTLB_DEFAULT);
        assertErrno("EBUSY", () -> fd.destroy(v.id())); // the nested HWPT holds the vIOMMU, not the parent
        assertErrno("EINVAL", () -> v.allocNestedHwpt(dev.deviceId(), MockDriver.HWPT_DATA_SELFTEST,
                MemorySegment.NULL, null)); // driver data type without data
    }

    @Test
    void destroyingTheDeviceTakesItsVdeviceAlong() throws Exception {
        Viommu v = viommu();
        Vdevice vd = v.allocVdevice(dev.deviceId(), 7);
        int vdId = vd.id();
        dev.close();
        assertErrno("ENOENT", () -> fd.destroy(vdId));
        vd.close(); // already gone: closing the handle is quiet
        v.close(); // and it no longer holds the vIOMMU
    }

    // ---- vIOMMU invalidation of the device cache ----

    @Test
    void viommuInvalidationClearsTheDeviceCacheOfTheVdevice() throws Exception {
        Viommu v = viommu();
        attachThrough(v, 3);
        for (int slot = 0; slot < 4; slot++) dev.checkCache(slot, MockDriver.DEV_CACHE_DEFAULT);
        MemorySegment entries = arena.allocate(3 * 12);
        assertEquals(0, v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 0));
        MockDriver.viommuInvalidation(entries, 0, 0, 3, 1);
        MockDriver.viommuInvalidation(entries, 1, 0, 3, 2);
        assertEquals(2, v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 2));
        dev.checkCache(0, MockDriver.DEV_CACHE_DEFAULT);
        dev.checkCache(1, 0);
        dev.checkCache(2, 0);
        assertErrno("EINVAL", () -> dev.checkCache(4, 0));
        // The third entry names no vDEVICE: two handled, then EINVAL, with the count written back.
        MockDriver.viommuInvalidation(entries, 2, 0, 9, 0);
        var e = assertErrno("EINVAL", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 3));
        assertTrue(e.getMessage().contains("handled=2"), e.getMessage());
        MockDriver.viommuInvalidation(entries, 0, 0, 3, 4);
        assertErrno("EINVAL", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 1));
        MockDriver.viommuInvalidation(entries, 0, 0xff, 3, 0);
        assertErrno("EOPNOTSUPP", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 1));
        assertErrno("EINVAL", () -> v.invalidate(0xdadbeef, entries, 12, 1));
        MockDriver.viommuInvalidation(entries, 0, MockDriver.INVALIDATE_FLAG_ALL, 3, 0);
        assertEquals(1, v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, entries, 12, 1));
        dev.checkCache(0, 0);
        dev.checkCache(3, 0);
    }

    // ---- vEVENTQ ----

    @Test
    void eventQueueAllocationRules() throws Exception {
        Viommu v = viommu();
        assertErrno("EINVAL", () -> v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 0));
        assertErrno("EINVAL", () -> v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, (1 << 19) + 1));
        assertErrno("EOPNOTSUPP", () -> v.allocEventQueue(0, 4, 4));
        EventQueue q = v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 4);
        assertEquals(4, q.payloadSize());
        assertErrno("EEXIST", () -> v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 4));
        assertErrno("EBUSY", () -> fd.destroy(q.id())); // its fd holds it
        assertErrno("EBUSY", () -> fd.destroy(v.id()));
        q.close();
        v.close();
    }

    @Test
    void virtualEventsCarrySequenceNumbersAndLossIsReported() throws Exception {
        Viommu v = viommu();
        assertErrno("ENOENT", dev::triggerVirtualEvent); // not attached through a vIOMMU
        attachThrough(v, 0x55);
        assertErrno("EOPNOTSUPP", dev::triggerVirtualEvent); // no SELFTEST queue on the vIOMMU
        EventQueue q = v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 2);
        VirtualEvents batch = q.newBatch(8);
        assertEquals(0, q.read(batch));
        assertFalse(q.await(0));
        for (int i = 0; i < 3; i++) dev.triggerVirtualEvent(); // depth 2: the third is lost
        assertTrue(q.await(1000));
        assertEquals(3, q.read(batch));
        int s = batch.sequence(0);
        assertEquals(0x55, batch.payloadInt(0, 0));
        assertEquals(0x55, batch.payloadInt(1, 0));
        assertEquals(s + 1, batch.sequence(1));
        assertTrue(batch.isLostEvents(2));
        assertEquals(s + 2, batch.sequence(2));
        assertTrue(batch.lossBefore(2));
        assertFalse(batch.lossBefore(1));
        assertEquals(0, q.read(batch));
        dev.triggerVirtualEvent();
        assertEquals(1, q.readBlocking(batch, 1000));
        assertEquals(s + 3, batch.sequence(0));
        assertFalse(batch.lossBefore(0));
        // Loss while the lost header is replaced by a later event: a sequence gap tells it.
        for (int i = 0; i < 3; i++) dev.triggerVirtualEvent();
        assertEquals(3, q.read(batch)); // s+4, s+5, lost s+6
        dev.triggerVirtualEvent();
        dev.triggerVirtualEvent();
        dev.triggerVirtualEvent(); // s+7, s+8, lost s+9 ...
        VirtualEvents one = q.newBatch(1);
        assertEquals(1, q.read(one));
        assertEquals(s + 7, one.sequence(0));
        dev.triggerVirtualEvent(); // room for one: replaces the trailing lost header, takes s+10
        assertEquals(1, q.read(one));
        assertEquals(1, q.read(one));
        assertEquals(s + 10, one.sequence(0));
        assertTrue(one.lossBefore(0), "the gap from s+8 to s+10 is a loss");
    }

    @Test
    void thePumpServesEventQueuesWithoutLoss() throws Exception {
        Viommu v = viommu();
        attachThrough(v, 0x77);
        int n = 2000;
        EventQueue q = v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, n);
        List<Integer> sequences = new ArrayList<>();
        int[] wrongPayload = {0};
        try (FaultPump pump = FaultPump.start(List.of(), null, List.of(q), (queue, events) -> {
            for (int i = 0; i < events.count(); i++) {
                synchronized (sequences) {
                    sequences.add(events.sequence(i));
                }
                if (events.isLostEvents(i) || events.payloadInt(i, 0) != 0x77) wrongPayload[0]++;
            }
        }, 64, 16)) {
            for (int i = 0; i < n; i++) dev.triggerVirtualEvent();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (pump.events() < n && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(n, pump.events());
            assertEquals(0, pump.lossMarks());
            assertEquals(0, pump.handlerErrors());
            assertNull(pump.failure());
        }
        assertEquals(0, wrongPayload[0]);
        synchronized (sequences) {
            for (int i = 1; i < sequences.size(); i++) assertEquals(sequences.get(i - 1) + 1, sequences.get(i));
        }
    }

    // ---- HW queue ----

    @Test
    void hwQueuesPinTheirRangeAndDependOnTheirPredecessor() throws Exception {
        Viommu v = viommu();
        MemorySegment m = buffer(2 * PAGE);
        long iova = ioas.map(m, Access.READ_WRITE);
        int type = MockDriver.HW_QUEUE_TYPE_SELFTEST;
        assertErrno("EOPNOTSUPP", () -> v.allocHwQueue(0, 0, iova, PAGE));
        assertErrno("EINVAL", () -> v.allocHwQueue(type, 0, iova, 0));
        assertErrno("EOVERFLOW", () -> v.allocHwQueue(type, 0, -1L, PAGE));
        assertErrno("ENOENT", () -> v.allocHwQueue(type, 0, iova + 16 * PAGE, PAGE)); // not mapped
        assertErrno("EIO", () -> v.allocHwQueue(type, 1, iova, PAGE)); // index 1 before 0
        HwQueue q0 = v.allocHwQueue(type, 0, iova, PAGE);
        assertErrno("EEXIST", () -> v.allocHwQueue(type, 0, iova + PAGE, PAGE));
        assertErrno("EINVAL", () -> v.allocHwQueue(type, MockDriver.HW_QUEUE_MAX, iova + PAGE, PAGE));
        HwQueue q1 = v.allocHwQueue(type, 1, iova + PAGE, PAGE);
        assertErrno("EBUSY", () -> ioas.unmap(iova, 2 * PAGE)); // locked by the queues
        assertErrno("EBUSY", () -> fd.destroy(q0.id())); // queue 1 depends on it
        assertErrno("EBUSY", () -> fd.destroy(v.id()));
        q1.close();
        q0.close();
        assertEquals(2 * PAGE, ioas.unmap(iova, 2 * PAGE));
        v.close();
    }

    @Test
    void noiommuGetPaIsRefusedWithoutNoiommuSupport() {
        assertErrno("EOPNOTSUPP", () -> ioas.noiommuGetPa(MockDriver.APERTURE_START, PAGE));
    }
}
