package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDmabuf;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Linux 7.x mock driver's PASID and dma-buf ops (TEST_CMD 18..23): PASID attach, replace,
 * detach and check with the PASID-compatibility rules, PASID fault routing, and mock dma-bufs
 * mapped with IOAS_MAP_FILE and revoked. After the kernel selftest's
 * {@code iommufd_device_pasid.pasid_attach} and {@code iommufd_ioas.dmabuf_*}. On kernels
 * without these ops (6.12) only {@link #linux612HasNoPasidOrDmabufOps} runs.
 */
class MockPasidContractTest extends ContractTestBase {
    static final int PASID_FAKE_ERROR = 1024;

    Ioas ioas;
    /** A PASID-capable mock device (MOCK_FLAGS_DEVICE_PASID) on {@link #ioas}. */
    MockDevice dev;
    /** NEST_PARENT on {@link #ioas}: not PASID-compatible. */
    HwPagetable parent;
    /** Nested on {@link #parent} with the PASID flag. */
    HwPagetable nested0, nested1;
    /** A PASID-compatible paging HWPT on {@link #ioas}. */
    HwPagetable s2;
    /** The ID of the auto domain the device started on. */
    int firstAuto;

    /** The selftest's fixture: the device starts on an auto domain of the IOAS. */
    void pasidFixture() throws Exception {
        requireMock();
        assumeTrue(mock.supportsPasid(), "mock driver without the PASID ops (before Linux 6.15)");
        ioas = fd.allocIoas();
        dev = mock.addDevice(ioas.id(), MockDriver.DEVICE_PASID);
        firstAuto = dev.hwptId();
        parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        nested0 = nested(null);
        nested1 = nested(null);
        s2 = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.PASID);
    }

    HwPagetable nested(FaultQueue q) throws Exception {
        return fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), q, HwptFlag.PASID);
    }

    void requireDmabuf() {
        requireMock();
        assumeTrue(mock.supportsDmabuf(), "mock driver without the dma-buf ops");
    }

    /** The kernel cannot free a device with PASIDs attached: each test leaves none (MockDevice.close detaches them). */
    @AfterEach
    void noPasidLeft() throws Exception {
        if (dev != null && !dev.isClosed()) dev.close();
    }

    // ---- PASID attach and detach ----

    @Test
    void detachOfAnUnattachedPasidSucceeds() throws Exception {
        pasidFixture();
        dev.detachPasid(100);
        dev.checkPasidHwpt(100, 0);
        dev.checkPasidHwpt(0, dev.hwptId()); // PASID 0 is the RID, on its auto domain
    }

    @Test
    void aPasidNeedsAPasidCompatibleHwptAtTheRid() throws Exception {
        pasidFixture();
        dev.replace(parent.id());
        assertErrno("EINVAL", () -> dev.attachPasid(100, s2.id()));
        dev.replace(s2.id());
        assertEquals(nested0.id(), dev.attachPasid(100, nested0.id()));
        // While a PASID is attached the RID cannot move to a HWPT that is not PASID-compatible.
        assertErrno("EINVAL", () -> dev.replace(parent.id()));
        assertErrno("EINVAL", () -> dev.replace(ioas.id()));
        dev.checkPasidHwpt(0, s2.id());
        dev.detachPasid(100);
        dev.checkPasidHwpt(100, 0);
        dev.replace(parent.id());
    }

    @Test
    void aHwptThatIsNotPasidCompatibleOrAnIoasCannotBeAttachedAtAPasid() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertErrno("EINVAL", () -> dev.attachPasid(100, parent.id()));
        dev.checkPasidHwpt(100, 0);
        HwPagetable plain = fd.allocHwpt(dev.deviceId(), ioas);
        int freeId = plain.id();
        assertErrno("EINVAL", () -> dev.attachPasid(100, plain.id()));
        plain.close();
        // An IOAS means an auto domain, never PASID-compatible; the one tried is freed with its ID.
        assertErrno("EINVAL", () -> dev.attachPasid(100, ioas.id()));
        dev.checkPasidHwpt(100, 0);
        assertErrno("EINVAL", () -> dev.replacePasid(100, ioas.id()));
        assertEquals(freeId, fd.allocHwpt(dev.deviceId(), ioas).id());
    }

    @Test
    void attachingAnAttachedPasidIsEbusyWhateverTheTarget() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertEquals(s2.id(), dev.attachPasid(100, s2.id()));
        dev.checkPasidHwpt(100, s2.id());
        assertErrno("EBUSY", () -> dev.attachPasid(100, nested0.id()));
        assertErrno("EBUSY", () -> dev.attachPasid(100, s2.id()));
        assertErrno("EBUSY", () -> dev.attachPasid(100, parent.id()));
        assertErrno("EBUSY", () -> dev.attachPasid(100, ioas.id()));
        dev.checkPasidHwpt(100, s2.id());
        dev.detachPasid(100);
        dev.attachPasid(100, nested0.id());
        dev.checkPasidHwpt(100, nested0.id());
        assertErrno("EBUSY", () -> dev.attachPasid(100, nested0.id()));
        dev.detachPasid(100);
        assertEquals(java.util.Set.of(), dev.attachedPasids());
    }

    @Test
    void replaceMovesAnAttachedPasidOnly() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertErrno("EINVAL", () -> dev.replacePasid(200, s2.id()));
        assertErrno("EINVAL", () -> dev.replacePasid(200, ioas.id()));
        dev.attachPasid(200, s2.id());
        assertErrno("EINVAL", () -> dev.replacePasid(200, ioas.id()));
        dev.checkPasidHwpt(200, s2.id());
        assertEquals(nested0.id(), dev.replacePasid(200, nested0.id()));
        dev.checkPasidHwpt(200, nested0.id());
        assertEquals(nested1.id(), dev.replacePasid(200, nested1.id()));
        assertEquals(nested1.id(), dev.replacePasid(200, nested1.id())); // the same HWPT: nothing happens
        assertErrno("EINVAL", () -> dev.replacePasid(200, parent.id()));
        dev.checkPasidHwpt(200, nested1.id());
        assertErrno("EINVAL", () -> dev.checkPasidHwpt(200, s2.id()));
        dev.detachPasid(200);
        dev.checkPasidHwpt(200, 0);
    }

    @Test
    void thePasid1024FakeErrorFailsTheChangeAfterEachArming() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        dev.attachPasid(PASID_FAKE_ERROR, s2.id()); // arms it
        assertErrno("ENOMEM", () -> dev.replacePasid(PASID_FAKE_ERROR, nested0.id()));
        dev.checkPasidHwpt(PASID_FAKE_ERROR, s2.id()); // the old HWPT stays
        dev.replacePasid(PASID_FAKE_ERROR, s2.id()); // the same HWPT: the driver is not called
        dev.replacePasid(PASID_FAKE_ERROR, nested0.id()); // disarmed by the failure: works, and arms again
        assertErrno("ENOMEM", () -> dev.replacePasid(PASID_FAKE_ERROR, nested1.id()));
        dev.checkPasidHwpt(PASID_FAKE_ERROR, nested0.id());
        dev.replacePasid(PASID_FAKE_ERROR, nested1.id());
        // A detach disarms it, so the next attach works (and arms it).
        dev.detachPasid(PASID_FAKE_ERROR);
        dev.attachPasid(PASID_FAKE_ERROR, s2.id());
        assertErrno("ENOMEM", () -> dev.replacePasid(PASID_FAKE_ERROR, nested0.id()));
        dev.detachPasid(PASID_FAKE_ERROR);
        // Only PASID 1024 has it.
        dev.attachPasid(1023, s2.id());
        dev.replacePasid(1023, nested0.id());
        dev.replacePasid(1023, nested1.id());
        dev.detachPasid(1023);
    }

    @Test
    void aDeviceWithoutPasidsHasOnlyTheRid() throws Exception {
        pasidFixture();
        MockDevice plain = mock.addDevice(ioas.id(), 0);
        try {
            plain.replace(nested0.id()); // a PASID-compatible HWPT serves a RID all the same
            plain.replace(ioas.id());
            assertErrno("EINVAL", () -> plain.attachPasid(100, parent.id()));
            assertErrno("EINVAL", () -> plain.attachPasid(100, s2.id()));
            plain.replace(s2.id());
            // The HWPTs are compatible now: only the PASID range (one PASID, 0) refuses it.
            assertErrno("EINVAL", () -> plain.attachPasid(1, s2.id()));
            assertEquals(0, fd.hwInfo(plain.deviceId()).maxPasidLog2());
            assertEquals(20, fd.hwInfo(dev.deviceId()).maxPasidLog2());
        } finally {
            plain.close();
        }
    }

    @Test
    void pasidsRangeOverTwentyBits() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertErrno("EINVAL", () -> dev.attachPasid(1 << 20, s2.id()));
        assertErrno("EINVAL", () -> dev.attachPasid(-1, s2.id()));
        dev.attachPasid((1 << 20) - 1, s2.id());
        dev.attachPasid(1, nested0.id());
        dev.checkPasidHwpt((1 << 20) - 1, s2.id());
        dev.checkPasidHwpt(1, nested0.id());
        assertEquals(java.util.List.of(1, (1 << 20) - 1), java.util.List.copyOf(dev.attachedPasids()));
        dev.detachPasid((1 << 20) - 1);
        dev.detachPasid(1);
    }

    @Test
    void pasidZeroIsTheRid() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertErrno("EBUSY", () -> dev.attachPasid(0, s2.id()));
        assertEquals(nested0.id(), dev.replacePasid(0, nested0.id()));
        assertEquals(nested0.id(), dev.hwptId());
        dev.checkPasidHwpt(0, nested0.id());
        dev.detachPasid(0);
        assertEquals(0, dev.hwptId());
        dev.checkPasidHwpt(0, 0);
        assertErrno("EINVAL", () -> dev.replace(s2.id())); // nothing attached at the RID to replace
        int auto = dev.attachPasid(0, ioas.id()); // a new auto domain, taking the lowest free ID
        assertEquals(firstAuto, auto);
        assertEquals(auto, dev.hwptId());
        dev.checkPasidHwpt(0, auto);
        assertEquals(s2.id(), dev.replace(s2.id()));
    }

    @Test
    void aHwptAttachedAtAPasidCannotBeDestroyed() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        HwPagetable extra = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.PASID);
        dev.attachPasid(5, extra.id());
        assertErrno("EBUSY", () -> fd.destroy(extra.id()));
        dev.detachPasid(5);
        extra.close();
        assertErrno("ENOENT", () -> fd.destroy(extra.id()));
    }

    @Test
    void pasidOpsRefuseWrongIds() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        assertErrno("ENOENT", () -> dev.attachPasid(5, 0));
        assertErrno("ENOENT", () -> dev.attachPasid(5, 9999));
        assertErrno("EINVAL", () -> dev.attachPasid(5, dev.deviceId()));
        assertErrno("EINVAL", () -> dev.replacePasid(5, dev.stdevId()));
        assertErrno("EINVAL", () -> dev.checkPasidHwpt(0, ioas.id()));
        assertErrno("ENOENT", () -> dev.checkPasidHwpt(0, 9999));
        assertErrno("EINVAL", () -> dev.checkPasidHwpt(0, parent.id()));
        assertErrno("EINVAL", () -> dev.checkPasidHwpt(7, s2.id())); // nothing attached at 7
        // The command's id must be a selftest object (stdev), not the device.
        for (int op : new int[] {Uapi.IOMMU_TEST_OP_PASID_ATTACH(), Uapi.IOMMU_TEST_OP_PASID_REPLACE(),
                Uapi.IOMMU_TEST_OP_PASID_DETACH(), Uapi.IOMMU_TEST_OP_PASID_CHECK_HWPT()}) {
            MemorySegment s = testCmd(op, dev.deviceId());
            iommu_test_cmd.pasid_attach.pasid(iommu_test_cmd.pasid_attach(s), 5);
            iommu_test_cmd.pasid_attach.pt_id(iommu_test_cmd.pasid_attach(s), s2.id());
            assertErrno("ENOENT", () -> fd.ioctl(Uapi.IOMMU_TEST_CMD(), s));
        }
        assertEquals(java.util.Set.of(), dev.attachedPasids());
    }

    @Test
    void aVirtualIommusNestedHwptNeedsNoVdeviceAtAPasid() throws Exception {
        pasidFixture();
        dev.replace(s2.id());
        Viommu v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
        HwPagetable vn = v.allocNestedHwpt(dev.deviceId(), MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), null, HwptFlag.PASID);
        assertErrno("ENOENT", () -> dev.replace(vn.id())); // at the RID the mock wants the vDEVICE
        dev.attachPasid(3, vn.id());
        dev.checkPasidHwpt(3, vn.id());
        dev.detachPasid(3);
    }

    // ---- PASID fault routing ----

    @Test
    void aFaultAtAnAttachedPasidGoesToTheHwptThere() throws Exception {
        pasidFixture();
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable iopf = nested(q);
        dev.replace(s2.id());
        dev.attachPasid(2048, iopf.id());
        dev.checkPasidHwpt(2048, iopf.id());
        dev.triggerPageFault(2048, 3, PageFaults.PERM_READ, 0x4000);
        PageFaults f = new PageFaults(4);
        assertEquals(1, q.readBlocking(f, 5000));
        assertTrue(f.pasidValid(0));
        assertEquals(2048, f.pasid(0));
        assertEquals(dev.deviceId(), f.deviceId(0));
        assertEquals(3, f.groupId(0));
        int cookie = f.cookie(0);
        // Without a PASID, or at a PASID attached nowhere (the RID's HWPT is not nested): dropped.
        dev.triggerPageFault(0, 4, PageFaults.PERM_READ, 0x5000);
        dev.triggerPageFault(2049, 5, PageFaults.PERM_READ, 0x6000);
        assertEquals(0, q.read(f));
        // Replacing the PASID's HWPT answers what came through it.
        dev.replacePasid(2048, s2.id());
        assertErrno("EINVAL", () -> answer(q, cookie));
        dev.triggerPageFault(2048, 6, PageFaults.PERM_READ, 0x7000);
        assertEquals(0, q.read(f));
        dev.detachPasid(2048);
    }

    @Test
    void aFaultAtAPasidAttachedNowhereGoesToANestedHwptAtTheRid() throws Exception {
        pasidFixture();
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable iopf = nested(q);
        dev.replace(iopf.id());
        PageFaults f = new PageFaults(4);
        dev.triggerPageFault(7, 1, PageFaults.PERM_WRITE, 0x4000);
        assertEquals(1, q.readBlocking(f, 5000));
        assertEquals(7, f.pasid(0));
        assertEquals(1, answer(q, f.cookie(0)));
        // Attached at PASID 7 to a HWPT without a fault queue: the fault is dropped, not rerouted.
        dev.attachPasid(7, nested0.id());
        dev.triggerPageFault(7, 2, PageFaults.PERM_WRITE, 0x4000);
        assertEquals(0, q.read(f));
        dev.detachPasid(7);
        dev.triggerPageFault(7, 3, PageFaults.PERM_WRITE, 0x4000);
        assertEquals(1, q.readBlocking(f, 5000));
        assertEquals(3, f.groupId(0));
        assertEquals(1, answer(q, f.cookie(0)));
    }

    @Test
    void detachingAPasidAnswersOnlyTheFaultsThatCameThroughIt() throws Exception {
        pasidFixture();
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable iopf = nested(q);
        dev.replace(iopf.id());
        dev.attachPasid(9, iopf.id()); // the same HWPT at the RID and at PASID 9: two attachments
        dev.triggerPageFault(9, 1, PageFaults.PERM_READ, 0x1000);
        dev.triggerPageFault(0, 2, PageFaults.PERM_READ, 0x2000);
        dev.triggerPageFault(5, 3, PageFaults.PERM_READ, 0x3000); // no HWPT at 5: the RID's
        PageFaults f = new PageFaults(8);
        assertEquals(3, q.readBlocking(f, 5000));
        Map<Integer, Integer> cookieByGroup = new HashMap<>();
        for (int i = 0; i < 3; i++) cookieByGroup.put(f.groupId(i), f.cookie(i));
        dev.detachPasid(9);
        assertErrno("EINVAL", () -> answer(q, cookieByGroup.get(1))); // answered INVALID by the detach
        assertEquals(1, answer(q, cookieByGroup.get(2)));
        assertEquals(1, answer(q, cookieByGroup.get(3)));
    }

    /** Answers one fault group SUCCESS; returns how many responses the kernel took. */
    static int answer(FaultQueue q, int cookie) throws Exception {
        PageResponses r = new PageResponses(1);
        r.add(cookie, PageResponses.SUCCESS);
        return q.respond(r);
    }

    // ---- mock dma-bufs ----

    @Test
    void dmabufGetRoundsTheLengthToPagesUpTo512() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        try (MockDmabuf b = mock.createDmabuf(1)) {
            assertEquals(PAGE, b.size());
            assertTrue(b.fd() >= 0);
            io.mapFile(b.fd(), 0, PAGE, Access.READ);
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), 0, PAGE + 1, Access.READ));
        }
        try (MockDmabuf b = mock.createDmabuf(512 * PAGE)) {
            assertEquals(512 * PAGE, b.size());
            io.mapFile(b.fd(), 0, 512 * PAGE, Access.READ_WRITE);
        }
        assertErrno("EINVAL", () -> mock.createDmabuf(0));
        assertErrno("EINVAL", () -> mock.createDmabuf(512 * PAGE + 1));
        assertErrno("EINVAL", () -> mock.createDmabuf(0xffff_ffffL));
    }

    @Test
    void dmabufGetReturnsZeroAndInstallsTheFd() throws Exception {
        requireDmabuf();
        Map<Integer, String> before = openFds();
        MemorySegment s = testCmd(Uapi.IOMMU_TEST_OP_DMABUF_GET(), 0);
        iommu_test_cmd.dmabuf_get.length(iommu_test_cmd.dmabuf_get(s), (int) PAGE);
        iommu_test_cmd.dmabuf_get.open_flags(iommu_test_cmd.dmabuf_get(s), Libc.O_CLOEXEC);
        assertEquals(0, fd.ioctl(Uapi.IOMMU_TEST_CMD(), s), "the kernel drops dma_buf_fd's result");
        Map<Integer, String> added = openFds();
        added.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())) || e.getValue().startsWith("/proc/"));
        assertEquals(1, added.size(), "one new fd: " + added);
        int dfd = added.keySet().iterator().next();
        try {
            Ioas io = fd.allocIoas();
            io.mapFile(dfd, 0, PAGE, Access.READ);
            mock.revokeDmabuf(dfd, true);
            assertErrno("ENODEV", () -> io.mapFile(dfd, 0, PAGE, Access.READ));
        } finally {
            Libc.close(dfd);
        }
    }

    static Map<Integer, String> openFds() throws Exception {
        Map<Integer, String> out = new HashMap<>();
        try (var dir = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : dir) {
                try {
                    out.put(Integer.parseInt(p.getFileName().toString()), Files.readSymbolicLink(p).toString());
                } catch (java.io.IOException gone) {
                    // the directory's own fd
                }
            }
        }
        return out;
    }

    @Test
    void dmabufMapFileNeedsTheRangeInsideTheBuffer() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        long size = 4 * PAGE;
        try (MockDmabuf b = mock.createDmabuf(size)) {
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), 0, 0, Access.READ_WRITE));
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), size, size, Access.READ_WRITE));
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), 0, size + 1, Access.READ_WRITE));
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), PAGE, size, Access.READ_WRITE));
            assertErrno("EOVERFLOW", () -> io.mapFile(b.fd(), -PAGE, 2 * PAGE, Access.READ_WRITE));
            // Automatic IOVAs align to the buffer offset, as for any file (docs/kernel-behaviour.md §3.2).
            assertEquals(0x4000, io.mapFile(b.fd(), 0, size, Access.READ_WRITE));
            assertEquals(0x1000, io.mapFile(b.fd(), PAGE, 2 * PAGE, Access.READ_WRITE));
            assertEquals(0x8064, io.mapFile(b.fd(), 100, 2 * PAGE, Access.READ_WRITE));
        }
        assertEquals(size + 2 * 2 * PAGE, io.unmapAll(), "the mappings outlive the buffer's fd");
    }

    @Test
    void mapFileOfAPlainFileAlignsAutomaticIovasToTheFileOffsetToo() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        int file = Linux7ObjectsContractTest.memfd(4 * PAGE);
        try {
            assertEquals(0x4000, io.mapFile(file, 0, 4 * PAGE, Access.READ));
            assertEquals(0x1000, io.mapFile(file, PAGE, 2 * PAGE, Access.READ));
        } finally {
            Libc.close(file);
        }
    }

    @Test
    void aRevokedDmabufCannotBeMappedUntilRestored() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        MockDevice d = mock.addDevice(io);
        long size = 4 * PAGE;
        try (MockDmabuf b = mock.createDmabuf(size)) {
            long iova = io.mapFile(b.fd(), 0, size, Access.READ_WRITE);
            assertEquals(MockDriver.APERTURE_START, iova);
            b.revoke(true);
            fd.allocHwpt(d.deviceId(), io); // a new domain skips the revoked area
            assertErrno("EINVAL", () -> io.mapFile(b.fd(), 0, size + PAGE, Access.READ_WRITE)); // the range first
            assertErrno("ENODEV", () -> io.mapFile(b.fd(), 0, size, Access.READ_WRITE));
            b.revoke(false);
            long iova2 = io.mapFile(b.fd(), 0, size, Access.READ_WRITE);
            assertNotEquals(iova, iova2);
            assertEquals(size, io.unmap(iova, size));
            io.mapFile(b.fd(), 0, size, iova, Access.READ_WRITE);
        }
    }

    @Test
    void anyRevokeInvalidatesTheExistingMappingsForGood() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        MockDevice d = mock.addDevice(io);
        HwPagetable dirty = fd.allocHwpt(d.deviceId(), io, HwptFlag.DIRTY_TRACKING);
        dirty.setDirtyTracking(true);
        long size = 4 * PAGE, iova = 2 * MockDriver.APERTURE_START, iova2 = 3 * MockDriver.APERTURE_START;
        MemorySegment all = arena.allocate(8);
        all.set(ValueLayout.JAVA_BYTE, 0, (byte) 0xf);
        try (MockDmabuf b = mock.createDmabuf(size)) {
            io.mapFile(b.fd(), 0, size, iova, Access.READ_WRITE);
            assertEquals(0xf, dirtyBits(dirty, all, iova, size), "mapped: the IOPTEs take dirty bits");
            b.revoke(false); // not revoked, yet every mapping of it is invalidated
            assertEquals(0, dirtyBits(dirty, all, iova, size), "invalidated: no IOPTEs left");
            io.mapFile(b.fd(), 0, size, iova2, Access.READ_WRITE);
            assertEquals(0xf, dirtyBits(dirty, all, iova2, size), "a new mapping is fine");
            assertEquals(0, dirtyBits(dirty, all, iova, size), "the old one stays invalid");
            assertEquals(size, io.unmap(iova, size));
        }
    }

    /** Marks the 4 pages at {@code iova} dirty through the mock, then reads the bitmap back. */
    private int dirtyBits(HwPagetable h, MemorySegment all, long iova, long size) throws Exception {
        assertEquals(4, mock.markDirty(h.id(), iova, size, PAGE, all), "7.3 counts every bit set");
        MemorySegment bitmap = arena.allocate(8);
        h.dirtyBitmap(iova, size, PAGE, bitmap, false);
        return bitmap.get(ValueLayout.JAVA_BYTE, 0) & 0xff;
    }

    @Test
    void dmabufMappingsAreNeitherFileBackedNorReachableThroughAnAccess() throws Exception {
        requireDmabuf();
        Ioas io = fd.allocIoas();
        MockAccess access = mock.createAccess(io, true);
        Ioas other = fd.allocIoas();
        long size = 4 * PAGE;
        try (MockDmabuf b = mock.createDmabuf(size)) {
            long iova = io.mapFile(b.fd(), 0, size, Access.READ_WRITE);
            long readOnly = io.mapFile(b.fd(), 0, size, Access.READ);
            assertErrno("EINVAL", fd::changeProcess);
            assertErrno("EINVAL", () -> access.rw(iova, arena.allocate(8), false));
            assertErrno("EINVAL", () -> access.rw(iova, arena.allocate(8), true));
            assertErrno("EPERM", () -> access.rw(readOnly, arena.allocate(8), true)); // the area's permission first
            assertErrno("EINVAL", () -> access.pin(iova, PAGE, false));
            // A copy shares the dma-buf's pages, with the same limits.
            long copied = io.copyTo(other, iova, size, Access.READ_WRITE);
            try (MockAccess otherAccess = mock.createAccess(other, false)) {
                assertErrno("EINVAL", () -> otherAccess.rw(copied, arena.allocate(8), false));
            }
            other.unmapAll();
            io.unmapAll();
            fd.changeProcess();
        }
    }

    @Test
    void revokeTakesOnlyDmabufs() throws Exception {
        requireDmabuf();
        int file = Linux7ObjectsContractTest.memfd(PAGE);
        try {
            assertErrno("EINVAL", () -> mock.revokeDmabuf(file, true));
            fd.allocIoas().mapFile(file, 0, PAGE, Access.READ); // a memfd maps as a file
        } finally {
            Libc.close(file);
        }
        assertErrno("EBADF", () -> mock.revokeDmabuf(-1, true));
        assertErrno("EBADF", () -> mock.revokeDmabuf(Integer.MAX_VALUE, false));
    }

    // ---- kernels without the ops ----

    @Test
    void linux612HasNoPasidOrDmabufOps() throws Exception {
        Iommufd old = kernelBefore613();
        try {
            MockDriver m = old.mock();
            assumeTrue(m.isPresent(), "kernel without CONFIG_IOMMUFD_TEST");
            assertFalse(m.supportsPasid());
            assertFalse(m.supportsDmabuf());
            Ioas io = old.allocIoas();
            assertErrno("EINVAL", () -> m.addDevice(io.id(), MockDriver.DEVICE_PASID));
            MockDevice d = m.addDevice(io);
            assertErrno("EOPNOTSUPP", () -> old.allocHwpt(d.deviceId(), io, HwptFlag.PASID));
            HwPagetable h = old.allocHwpt(d.deviceId(), io);
            assertErrno("EOPNOTSUPP", () -> d.attachPasid(1, h.id()));
            assertErrno("EOPNOTSUPP", () -> d.replacePasid(1, h.id()));
            assertErrno("EOPNOTSUPP", () -> d.detachPasid(1));
            assertErrno("EOPNOTSUPP", () -> d.checkPasidHwpt(0, d.hwptId()));
            assertErrno("EOPNOTSUPP", () -> m.createDmabuf(PAGE));
            assertErrno("EOPNOTSUPP", () -> m.revokeDmabuf(-1, true));
            assertEquals(0, old.hwInfo(d.deviceId()).maxPasidLog2());
        } finally {
            if (old != fd) old.close();
        }
    }

    /** A raw IOMMU_TEST_CMD with {@code op} and {@code id}, the union zeroed. */
    MemorySegment testCmd(int op, int id) {
        MemorySegment s = arena.allocate(iommu_test_cmd.layout());
        iommu_test_cmd.size(s, (int) iommu_test_cmd.sizeof());
        iommu_test_cmd.op(s, op);
        iommu_test_cmd.id(s, id);
        return s;
    }
}
