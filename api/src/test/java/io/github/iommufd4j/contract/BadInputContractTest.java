package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad input from users of the API: closed handles, double close, close racing with use, null,
 * empty and freed segments, unaligned sizes, ids of the wrong kind. Each gets a clear error (an
 * errno, or the API's own argument error), never a crash, on both backends.
 */
class BadInputContractTest extends ContractTestBase {

    @Test
    void everyOperationOnClosedHandlesIsEBADFWithoutAKernelCall() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        FaultQueue q = fd.allocFaultQueue();
        MockDevice dev = mock.addFaultingDevice(ioas, q);
        MockAccess access = mock.createAccess(ioas, true);
        ioas.close(); // closes the device and the access (they depend on it)
        q.close();
        q.close();
        assertTrue(dev.isClosed() && access.isClosed());
        assertErrno("EBADF", () -> ioas.map(buffer(PAGE), Access.READ));
        assertErrno("EBADF", () -> ioas.unmapAll());
        assertErrno("EBADF", () -> ioas.iovaRanges());
        assertErrno("EBADF", () -> dev.triggerPageFault(0, 0, PageFaults.PERM_READ, 0));
        assertErrno("EBADF", () -> dev.replace(1));
        assertErrno("EBADF", () -> access.rw(0, buffer(PAGE), false));
        assertErrno("EBADF", () -> q.read(new PageFaults(1)));
        PageResponses one = new PageResponses(1);
        one.add(1, PageResponses.SUCCESS);
        assertErrno("EBADF", () -> q.respond(one));
        assertErrno("EBADF", () -> fd.allocHwpt(dev.deviceId(), ioas));
        // All of it is gone from the iommufd: the next object gets id 1 again.
        assertEquals(1, fd.allocIoas().id());
    }

    @Test
    void aClosedIommufdRefusesEverythingAndClosingTwiceIsHarmless() throws Exception {
        Ioas ioas = fd.allocIoas();
        fd.close();
        fd.close();
        assertTrue(ioas.isClosed());
        assertErrno("EBADF", () -> fd.allocIoas());
        assertErrno("EBADF", () -> fd.destroy(1));
        assertErrno("EBADF", () -> ioas.map(buffer(PAGE), Access.READ));
        ioas.close();
    }

    @Test
    void closeRacingWithUseGivesSuccessOrTheClosedErrorOnly() throws Exception {
        for (int round = 0; round < 20; round++) {
            Ioas ioas = fd.allocIoas();
            MemorySegment m = buffer(PAGE);
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            AtomicLong ok = new AtomicLong();
            Thread user = Thread.ofPlatform().start(() -> {
                for (long iova = 0x100000; ; iova += PAGE) {
                    try {
                        ioas.map(m, iova, Access.READ_WRITE);
                        ioas.unmap(iova, PAGE);
                        ok.incrementAndGet();
                    } catch (IommufdException e) {
                        if (!e.errnoName().equals("EBADF")) unexpected.set(e);
                        return;
                    } catch (Throwable t) {
                        unexpected.set(t);
                        return;
                    }
                }
            });
            while (ok.get() < round % 5) Thread.onSpinWait();
            if (round % 2 == 0) ioas.close();
            else fd.close();
            user.join(60_000);
            assertFalse(user.isAlive());
            assertNull(unexpected.get());
            if (round % 2 == 1) open();
        }
        assertEquals(1, fd.allocIoas().id(), "every IOAS of the races was destroyed");
    }

    @Test
    void nullAndEmptySegments() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertThrows(NullPointerException.class, () -> ioas.map(null, Access.READ));
        // A zero-length mapping is the kernel's EINVAL, at a chosen or a fixed IOVA.
        assertErrno("EINVAL", () -> ioas.map(MemorySegment.NULL, Access.READ));
        assertErrno("EINVAL", () -> ioas.map(buffer(PAGE).asSlice(0, 0), 0x100000, Access.READ));
        assertErrno("EINVAL", () -> ioas.unmap(0x100000, 0));
        assertThrows(IllegalArgumentException.class, () -> ioas.map(MemorySegment.ofArray(new byte[PAGE_INT]), Access.READ));
    }

    static final int PAGE_INT = (int) PAGE;

    @Test
    void nullSmmuv3ArgumentsAreRefusedBeforeTheKernelAndTheVIommuStaysUsable() throws Exception {
        requireMock();
        org.junit.jupiter.api.Assumptions.assumeTrue(fd.supports(io.github.iommufd4j.Command.VIOMMU_ALLOC), "kernel without IOMMU_VIOMMU_ALLOC");
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, io.github.iommufd4j.HwptFlag.NEST_PARENT);
        io.github.iommufd4j.Viommu v = fd.allocViommu(dev.deviceId(), parent, io.github.iommufd4j.MockDriver.VIOMMU_TYPE_SELFTEST,
                MemorySegment.NULL);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> v.allocNestedHwpt(dev.deviceId(), (io.github.iommufd4j.Smmuv3Ste) null));
        assertTrue(e.getMessage().contains("STE is null"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> v.invalidate((java.util.List<io.github.iommufd4j.Smmuv3Command>) null));
        java.util.List<io.github.iommufd4j.Smmuv3Command> withNull = new java.util.ArrayList<>();
        withNull.add(null);
        e = assertThrows(IllegalArgumentException.class, () -> v.invalidate(withNull));
        assertTrue(e.getMessage().contains("command 0 is null"), e.getMessage());
        v.close(); // nothing was left busy by the refused calls
        assertTrue(v.isClosed());
    }

    @Test
    void aSegmentOfAClosedArenaIsRefusedBeforeTheKernelSeesIt() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MemorySegment gone;
        try (Arena a = Arena.ofConfined()) {
            gone = a.allocate(PAGE, PAGE);
        }
        // The kernel would take the freed address as it is; the API refuses it.
        assertThrows(IllegalStateException.class, () -> ioas.map(gone, Access.READ));
        assertThrows(IllegalStateException.class, () -> ioas.map(gone, 0x100000, Access.READ));
        ioas.map(buffer(PAGE), 0x100000, Access.READ_WRITE);
        MockAccess access = mock.createAccess(ioas, false);
        assertThrows(IllegalStateException.class, () -> access.rw(0x100000, gone, false));
        assertEquals(0, ioas.unmapAll() - PAGE, "only the live mapping exists");
    }

    @Test
    void unalignedSizes() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addDevice(ioas); // the mock domain makes the IOAS alignment 2 KiB
        assertErrno("EINVAL", () -> ioas.map(buffer(PAGE).asSlice(0, 0x801), Access.READ));
        assertErrno("EINVAL", () -> ioas.map(buffer(2 * PAGE).asSlice(0, 0x1001), 0x1000000, Access.READ));
        assertErrno("EINVAL", () -> ioas.map(buffer(PAGE), 0x1000400, Access.READ));
        ioas.map(buffer(2 * PAGE), 0x1000000, Access.READ);
        // Unmap only takes whole mappings: a range ending inside one is ENOENT, and it stays mapped.
        assertErrno("ENOENT", () -> ioas.unmap(0x1000000, 0x1001));
        assertEquals(2 * PAGE, ioas.unmap(0x1000000, 2 * PAGE));
    }

    @Test
    void idsOfTheWrongKind() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        FaultQueue q = fd.allocFaultQueue();
        MockDevice dev = mock.addDevice(ioas);
        assertErrno("ENOENT", () -> fd.allocHwpt(ioas.id(), ioas));         // dev_id names an IOAS
        assertErrno("ENOENT", () -> fd.hwInfo(q.id()));                     // a fault queue is no device
        assertErrno("EINVAL", () -> dev.replace(q.id()));                   // nor a page table
        assertErrno("EINVAL", () -> mock.addDevice(q.id(), 0));
        assertErrno("EBUSY", () -> fd.destroy(dev.deviceId()));            // a bound device is not destroyed by id
        HwPagetable hwpt = fd.allocHwpt(dev.deviceId(), ioas);
        assertErrno("ENOENT", () -> mock.checkIotlb(ioas.id(), 0, 0));
        assertErrno("ENOENT", () -> mock.checkIotlb(hwpt.id(), 0, 0));      // a paging table is not nested
        // Nothing above created an object: ids 1 (IOAS), 2 (queue), 3..5 (device), 6 (HWPT) and then 7.
        assertEquals(7, fd.allocIoas().id());
    }

    /**
     * Found by the differential fuzzer: an operation refused because its second handle was
     * closed left the first one marked busy, and closing that one then waited forever.
     */
    @Test
    void anOperationRefusedForAClosedSecondHandleLeavesTheFirstClosable() throws Exception {
        requireMock();
        Ioas src = fd.allocIoas(), dst = fd.allocIoas();
        MockDevice dev = mock.addDevice(src);
        FaultQueue q = fd.allocFaultQueue();
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), src, io.github.iommufd4j.HwptFlag.NEST_PARENT);
        dst.close();
        q.close();
        assertErrno("EBADF", () -> src.copyTo(dst, 0x1000000, PAGE, Access.READ));
        assertErrno("EBADF", () -> fd.allocHwpt(dev.deviceId(), dst));
        try (Arena a = Arena.ofConfined()) {
            assertErrno("EBADF", () -> fd.allocNestedHwpt(dev.deviceId(), parent, io.github.iommufd4j.MockDriver.HWPT_DATA_SELFTEST,
                    io.github.iommufd4j.MockDriver.selftestData(a, 0), q));
        }
        Thread closer = Thread.ofPlatform().daemon().start(() -> {
            try {
                parent.close();
                src.close();
            } catch (IommufdException e) {
                throw new IllegalStateException(e);
            }
        });
        closer.join(60_000);
        assertFalse(closer.isAlive(), "close waits for an operation that has ended");
        assertTrue(src.isClosed() && parent.isClosed());
    }
}
