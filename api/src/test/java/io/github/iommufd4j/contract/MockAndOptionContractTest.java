package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.*;

/** The remaining mock driver ops and IOMMU_OPTION RLIMIT_MODE. */
class MockAndOptionContractTest extends ContractTestBase {

    @Test
    void rlimitModeDefaultsToUserAccountingAndCannotChangeWhileObjectsExist() throws Exception {
        assertFalse(fd.rlimitModeIsProcess());
        fd.allocIoas();
        // EBUSY with objects present (EPERM first without CAP_SYS_RESOURCE).
        var e = assertThrows(io.github.iommufd4j.IommufdException.class, () -> fd.setRlimitModeIsProcess(true));
        assertTrue(e.errnoName().equals("EBUSY") || e.errnoName().equals("EPERM"), e.getMessage());
        assertFalse(fd.rlimitModeIsProcess());
    }

    @Test
    void aNoDirtyDeviceRefusesADirtyTrackingPageTable() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas.id(), MockDriver.DEVICE_NO_DIRTY);
        assertErrno("EOPNOTSUPP", () -> fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.DIRTY_TRACKING));
        assertFalse(fd.hwInfo(dev.deviceId()).dirtyTracking());
        dev.close();
        assertErrno("EINVAL", () -> mock.addDevice(ioas.id(), 1 << 30)); // unknown device flag
    }

    @Test
    void accessPinsPagesUntilUnpinnedOrUnmapped() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MemorySegment m = buffer(4 * PAGE);
        long iova = ioas.map(m, Access.READ_WRITE);
        try (MockAccess access = mock.createAccess(ioas, true)) {
            int first = access.pin(iova, 2 * PAGE, true);
            int second = access.pin(iova + 2 * PAGE, PAGE, false);
            assertEquals(first + 1, second, "pin ids count up from 0 per access");
            access.unpin(first);
            assertErrno("ENOENT", () -> access.unpin(first));
            ioas.unmap(iova, 4 * PAGE); // the access's unmap callback drops its pins
            assertErrno("ENOENT", () -> access.unpin(second));
            assertErrno("ENOENT", () -> access.pin(iova, PAGE, false)); // nothing mapped any more
        }
    }

    @Test
    void anAccessWithoutPinPagesCannotPin() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        long iova = ioas.map(buffer(PAGE), Access.READ_WRITE);
        try (MockAccess access = mock.createAccess(ioas, false)) {
            assertErrno("EOPNOTSUPP", () -> access.pin(iova, PAGE, false));
        }
    }

    @Test
    void pagesArePinnedOnceWhileADomainUsesThem() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MemorySegment m = buffer(2 * PAGE);
        mock.checkRefs(m, 0);
        mock.addDevice(ioas);
        long iova = ioas.map(m, Access.READ_WRITE);
        mock.checkRefs(m, 1);
        // No EIO check for a wrong count here: the kernel skips compound pages (a transparent huge
        // page behind the buffer passes any count), so it would depend on the JVM's memory.
        ioas.unmap(iova, 2 * PAGE);
        mock.checkRefs(m, 0);
    }

    @Test
    void temporaryMemoryLimitBelowTwelveIsEINVAL() throws Exception {
        requireMock();
        assertErrno("EINVAL", () -> mock.setTempMemoryLimit(11));
        mock.setTempMemoryLimit(65536); // back to the default
    }

    @Test
    void accessMovesToAnotherIoas() throws Exception {
        requireMock();
        Ioas a = fd.allocIoas(), b = fd.allocIoas();
        MemorySegment m = buffer(PAGE);
        b.map(m, 0x5000, Access.READ_WRITE);
        try (MockAccess access = mock.createAccess(a, false)) {
            assertErrno("ENOENT", () -> access.rw(0x5000, arena.allocate(8), false));
            access.replaceIoas(b);
            access.rw(0x5000, arena.allocate(8), false);
        }
    }
}
