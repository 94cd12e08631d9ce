package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.IovaRange;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** IOAS commands: alloc, map, unmap, copy, IOVA ranges, allowed IOVAs, options, destroy. */
class IoasContractTest extends ContractTestBase {

    @Test
    void idsStartAtOneAndTheLowestFreeIdIsReused() throws Exception {
        Ioas a = fd.allocIoas(), b = fd.allocIoas(), c = fd.allocIoas();
        assertEquals(List.of(1, 2, 3), List.of(a.id(), b.id(), c.id()));
        b.close();
        assertEquals(2, fd.allocIoas().id());
    }

    @Test
    void destroyOfIdZeroOrAnUnknownIdIsENOENT() {
        assertErrno("ENOENT", () -> fd.destroy(0));
        assertErrno("ENOENT", () -> fd.destroy(77));
    }

    @Test
    void closeIsIdempotentAndAClosedHandleFailsWithoutAKernelCall() throws Exception {
        Ioas ioas = fd.allocIoas();
        ioas.close();
        ioas.close();
        IommufdException e = assertErrno("EBADF", () -> ioas.map(buffer(PAGE), Access.READ_WRITE));
        assertTrue(e.getMessage().contains("handle is closed"), e.getMessage());
        assertErrno("ENOENT", () -> fd.destroy(ioas.id())); // really destroyed
    }

    @Test
    void automaticMapOfAHugePageAlignedBufferWithoutDomainStartsAtTheSecondPage() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertEquals(0x1000L, ioas.map(buffer(PAGE), Access.READ_WRITE)); // IOVA 0 is never chosen
    }

    @Test
    void fixedMapAndOverlapIsEEXIST() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment m = buffer(2 * PAGE);
        ioas.map(m, 0x100000, Access.READ_WRITE);
        assertErrno("EEXIST", () -> ioas.map(buffer(PAGE), 0x101000, Access.READ));
        assertErrno("EEXIST", () -> ioas.map(buffer(4 * PAGE), 0xff000, Access.READ));
        ioas.map(buffer(PAGE), 0x102000, Access.READ); // adjacent is fine
    }

    @Test
    void fixedMapAtIovaZeroIsAllowed() throws Exception {
        fd.allocIoas().map(buffer(PAGE), 0, Access.READ_WRITE);
    }

    @Test
    void mapOfAnUnknownIoasIsENOENT() throws Exception {
        Ioas ioas = fd.allocIoas();
        fd.destroy(ioas.id());
        assertErrno("ENOENT", () -> ioas.map(buffer(PAGE), Access.READ_WRITE));
    }

    @Test
    void unmapOfNothingIsENOENTButUnmapAllOfNothingSucceeds() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertErrno("ENOENT", () -> ioas.unmap(0x1000, PAGE));
        assertEquals(0, ioas.unmapAll());
    }

    @Test
    void unmapOfPartOfAMappingIsENOENT() throws Exception {
        Ioas ioas = fd.allocIoas();
        ioas.map(buffer(2 * PAGE), 0x10000, Access.READ_WRITE);
        assertErrno("ENOENT", () -> ioas.unmap(0x10000, PAGE));
        assertErrno("ENOENT", () -> ioas.unmap(0x11000, PAGE));
        assertEquals(2 * PAGE, ioas.unmap(0x10000, 2 * PAGE));
    }

    @Test
    void unmapOfARangeRemovesEveryWholeAreaInsideAndReportsTheirSize() throws Exception {
        Ioas ioas = fd.allocIoas();
        for (int i = 0; i < 4; i++) ioas.map(buffer(8 * PAGE), (long) (i * 16) * PAGE, Access.READ_WRITE);
        assertEquals(32 * PAGE, ioas.unmap(0, 60 * PAGE));
        assertEquals(0, ioas.unmapAll());
    }

    @Test
    void unmapWithZeroLengthIsEINVALAndOverflowIsEOVERFLOW() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertErrno("EINVAL", () -> ioas.unmap(0x1000, 0));
        assertErrno("EOVERFLOW", () -> ioas.unmap(-PAGE, 2 * PAGE));
    }

    @Test
    void unmapAllReportsTheBytesRemoved() throws Exception {
        Ioas ioas = fd.allocIoas();
        ioas.map(buffer(PAGE), Access.READ);
        ioas.map(buffer(3 * PAGE), Access.READ_WRITE);
        assertEquals(4 * PAGE, ioas.unmapAll());
        assertErrno("ENOENT", () -> ioas.unmap(0x1000, PAGE));
    }

    @Test
    void aFreshIoasHasTheWholeIovaSpaceAndAlignmentOne() throws Exception {
        Ioas.IovaRanges r = fd.allocIoas().iovaRanges();
        assertEquals(List.of(new IovaRange(0, -1L)), r.ranges());
        assertEquals(1, r.alignment());
    }

    @Test
    void aMockDomainLimitsTheIovaRangesToItsAperture() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addDevice(ioas);
        Ioas.IovaRanges r = ioas.iovaRanges();
        assertEquals(List.of(new IovaRange(MockDriver.APERTURE_START, MockDriver.APERTURE_LAST)), r.ranges());
        assertEquals(MockDriver.PAGE_SIZE, r.alignment());
        assertEquals(MockDriver.APERTURE_START, ioas.map(buffer(PAGE), Access.READ_WRITE));
    }

    @Test
    void reservedRangesSplitTheIovaRangesAndGrowTheBuffer() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        for (int i = 1; i <= 12; i++) mock.addReserved(ioas, i * 0x100000L, PAGE); // 13 holes: more than 8
        List<IovaRange> ranges = ioas.iovaRanges().ranges();
        assertEquals(13, ranges.size());
        assertEquals(new IovaRange(0, 0xfffff), ranges.get(0));
        assertEquals(new IovaRange(0x101000, 0x1fffff), ranges.get(1));
    }

    @Test
    void fixedMapOverAReservedRangeIsEINVAL() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addReserved(ioas, 0x200000, PAGE);
        assertErrno("EINVAL", () -> ioas.map(buffer(PAGE), 0x200000, Access.READ));
    }

    @Test
    void addReservedOfZeroLengthIsEINVALAndOverAMappingIsEADDRINUSE() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        assertErrno("EINVAL", () -> mock.addReserved(ioas, 0x1000, 0));
        ioas.map(buffer(PAGE), 0x5000, Access.READ);
        assertErrno("EADDRINUSE", () -> mock.addReserved(ioas, 0x4000, 2 * PAGE));
    }

    @Test
    void allowedIovasSteerAutomaticAllocation() throws Exception {
        Ioas ioas = fd.allocIoas();
        ioas.allowIovas(List.of(new IovaRange(0x40000000L, 0x4fffffffL)));
        assertEquals(0x40000000L, ioas.map(buffer(PAGE), Access.READ_WRITE));
        ioas.map(buffer(PAGE), 0x1000, Access.READ); // fixed maps ignore allowed ranges
        ioas.allowIovas(List.of());
    }

    @Test
    void allowedIovasMustBeProperAndDisjoint() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertErrno("EINVAL", () -> ioas.allowIovas(List.of(new IovaRange(0x2000, 0x2000))));
        assertErrno("EINVAL", () -> ioas.allowIovas(List.of(new IovaRange(0x1000, 0x5000), new IovaRange(0x4000, 0x8000))));
    }

    @Test
    void allowedIovasOverAReservedRangeIsEADDRINUSE() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addReserved(ioas, 0x10000, PAGE);
        assertErrno("EADDRINUSE", () -> ioas.allowIovas(List.of(new IovaRange(PAGE, 600 * PAGE))));
    }

    @Test
    void copySharesTheSourcePagesIntoAnotherIoas() throws Exception {
        Ioas src = fd.allocIoas(), dst = fd.allocIoas();
        MemorySegment m = buffer(4 * PAGE);
        src.map(m, 0x100000, Access.READ_WRITE);
        src.copyTo(dst, 0x101000, 2 * PAGE, 0x200000, Access.READ);
        // Copying a source range that is not fully mapped is ENOENT.
        assertErrno("ENOENT", () -> src.copyTo(dst, 0x0, PAGE, Access.READ));
        assertEquals(2 * PAGE, dst.unmap(0x200000, 2 * PAGE));
    }

    @Test
    void hugePagesOptionDefaultsOnAndCanBeSwitched() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertTrue(ioas.hugePages());
        ioas.setHugePages(false);
        assertFalse(ioas.hugePages());
        assertEquals(PAGE, ioas.iovaRanges().alignment());
    }

    @Test
    void vfioCompatIoasGetWithoutOneIsENODEV() throws Exception {
        assertErrno("ENODEV", () -> fd.vfioCompatIoas());
        Ioas ioas = fd.allocIoas();
        fd.setVfioCompatIoas(ioas);
        assertEquals(ioas.id(), fd.vfioCompatIoas());
        fd.clearVfioCompatIoas();
        assertErrno("ENODEV", () -> fd.vfioCompatIoas());
    }

    @Test
    void destroyOfAnIoasInUseByADeviceIsEBUSY() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        assertErrno("EBUSY", () -> fd.destroy(ioas.id()));
        dev.close();
        fd.destroy(ioas.id());
    }

    @Test
    void supportsAnswersForEveryCommandWithoutSideEffects() {
        for (Command c : new Command[] {Command.DESTROY, Command.IOAS_ALLOC, Command.IOAS_MAP, Command.OPTION}) {
            assertTrue(fd.supports(c), c.name());
        }
    }
}
