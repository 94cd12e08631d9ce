package io.github.iommufd4j.contract;

import io.github.iommufd4j.Command;
import io.github.iommufd4j.bindings.uapi.iommu_destroy;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The ioctl dispatcher's size and number checks, through raw structs (docs/kernel-behaviour.md
 * §1.2, selftest cmd_length / cmd_fail).
 */
class DispatcherContractTest extends ContractTestBase {

    MemorySegment struct(long bytes, int size) {
        MemorySegment s = arena.allocate(bytes, 8);
        s.set(ValueLayout.JAVA_INT, 0, size);
        return s;
    }

    @Test
    void anUnknownCommandIsENOTTY() {
        assertErrno("ENOTTY", () -> fd.ioctl(0x3b7f, struct(8, 8))); // _IO(';', 0x7f)
    }

    @Test
    void aSizeBelowTheMinimumIsEINVAL() {
        assertErrno("EINVAL", () -> fd.ioctl(Command.IOAS_ALLOC.request(), struct(16, (int) iommu_ioas_alloc.sizeof() - 1)));
        assertErrno("EINVAL", () -> fd.ioctl(Command.DESTROY.request(), struct(16, 7)));
    }

    @Test
    void aLargerStructMustHaveAZeroTail() throws Exception {
        MemorySegment s = struct(24, 16);
        s.set(ValueLayout.JAVA_INT, 4, 0); // id 0
        assertErrno("ENOENT", () -> fd.ioctl(Command.DESTROY.request(), s)); // zero tail: accepted, then ENOENT
        s.set(ValueLayout.JAVA_LONG, 8, 1);
        assertErrno("E2BIG", () -> fd.ioctl(Command.DESTROY.request(), s));
    }

    @Test
    void aLargerZeroTailedStructWorksAndIsWrittenBack() throws Exception {
        MemorySegment s = struct(32, (int) iommu_ioas_alloc.sizeof() + 8);
        assertEquals(0, fd.ioctl(Command.IOAS_ALLOC.request(), s));
        assertEquals(1, iommu_ioas_alloc.out_ioas_id(s));
        MemorySegment d = struct(8, (int) iommu_destroy.sizeof());
        iommu_destroy.id(d, 1);
        fd.ioctl(Command.DESTROY.request(), d);
    }

    /**
     * The selftest's cmd_length for every 6.12 command: size one below the command's minimum is
     * EINVAL; size one above the kernel's struct with a non-zero extra byte is E2BIG.
     * Minimum and struct sizes from docs/kernel-behaviour.md §1.3, x86-64.
     */
    @ParameterizedTest(name = "{0}: min {1}, sizeof {2}")
    @CsvSource({
            "DESTROY, 8, 8", "IOAS_ALLOC, 12, 12", "IOAS_ALLOW_IOVAS, 24, 24", "IOAS_COPY, 40, 40",
            "IOAS_IOVA_RANGES, 32, 32", "IOAS_MAP, 40, 40", "IOAS_UNMAP, 24, 24", "OPTION, 24, 24",
            "VFIO_IOAS, 12, 12", "HWPT_ALLOC, 24, 48", "GET_HW_INFO, 32, 40", "HWPT_SET_DIRTY_TRACKING, 16, 16",
            "HWPT_GET_DIRTY_BITMAP, 48, 48", "HWPT_INVALIDATE, 32, 32", "FAULT_QUEUE_ALLOC, 16, 16", "TEST_CMD, 68, 72"})
    void everyCommandChecksItsSizeLikeTheKernel(Command command, int minSize, int sizeof) {
        if (command == Command.TEST_CMD) requireMock();
        assertErrno("EINVAL", () -> fd.ioctl(command.request(), struct(sizeof + 8, minSize - 1)));
        MemorySegment big = struct(sizeof + 8, sizeof + 1);
        big.set(ValueLayout.JAVA_BYTE, sizeof, (byte) 1);
        assertErrno("E2BIG", () -> fd.ioctl(command.request(), big));
    }

    /** The same for the Linux 7.x commands, on kernels that have them (docs/kernel-behaviour.md §1.3). */
    @ParameterizedTest(name = "{0}: min {1}, sizeof {2}")
    @CsvSource({
            "IOAS_MAP_FILE, 40, 40", "VIOMMU_ALLOC, 24, 40", "VDEVICE_ALLOC, 24, 24", "IOAS_CHANGE_PROCESS, 8, 8",
            "VEVENTQ_ALLOC, 28, 32", "HW_QUEUE_ALLOC, 40, 40", "IOAS_NOIOMMU_GET_PA, 40, 40"})
    void everyLinux7CommandChecksItsSizeLikeTheKernel(Command command, int minSize, int sizeof) {
        org.junit.jupiter.api.Assumptions.assumeTrue(fd.supports(command), "kernel without " + command.ioctlName());
        everyCommandChecksItsSizeLikeTheKernel(command, minSize, sizeof);
    }

    @Test
    void unknownMockOpIsEOPNOTSUPP() {
        requireMock();
        MemorySegment s = struct(72, 72);
        s.set(ValueLayout.JAVA_INT, 4, 0x7fff); // op
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.TEST_CMD.request(), s));
    }
}
