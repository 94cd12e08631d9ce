package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Divergences between the kernel and the software backend found by the differential fuzzer
 * (io.github.iommufd4j.reliability.DiffFuzzTest), each as the shrunk reproducer's contract.
 */
class DifferentialFindingsContractTest extends ContractTestBase {

    /**
     * MOCK_DOMAIN binds (and publishes) the new device before attaching it, so a pt_id equal to
     * the id the device itself gets names a DEVICE: EINVAL, not ENOENT. Both ids are free again
     * afterwards. (The software backend published the device only after the attach.)
     */
    @Test
    void mockDomainOnTheIdItsOwnDeviceGetsIsEINVAL() throws Exception {
        requireMock();
        fd.allocIoas(); // 1; the mock device will get stdev 2, idev 3
        assertErrno("EINVAL", () -> mock.addDevice(3, 0));
        assertErrno("ENOENT", () -> mock.addDevice(4, 0)); // beyond: nothing there
        assertEquals(2, fd.allocIoas().id());
    }

    /**
     * A copy's areas pin the source's pages: they stay readable after the source mapping is
     * unmapped. (The typed API dropped its hold on the memory with the source mapping, so the
     * software backend answered EFAULT, and an automatic arena could have freed memory the
     * copy still maps.)
     */
    @Test
    void aCopyOutlivesItsSourceMapping() throws Exception {
        requireMock();
        Ioas src = fd.allocIoas(), dst = fd.allocIoas();
        MockAccess access = mock.createAccess(dst, false);
        MemorySegment m = buffer(2 * PAGE);
        for (int i = 0; i < 2 * PAGE; i++) m.set(JAVA_BYTE, i, (byte) (i * 13));
        src.map(m, 0x100000, Access.READ_WRITE);
        src.copyTo(dst, 0x100800, PAGE, 0x200000, Access.READ);
        assertEquals(2 * PAGE, src.unmap(0x100000, 2 * PAGE));
        MemorySegment back = arena.allocate(PAGE);
        access.rw(0x200000, back, false);
        assertEquals(-1, back.mismatch(m.asSlice(0x800, PAGE)), "the copy still maps the source's memory");
        assertEquals(PAGE, dst.unmap(0x200000, PAGE));
    }
}
