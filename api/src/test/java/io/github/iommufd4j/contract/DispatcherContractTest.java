package io.github.iommufd4j.contract;

import io.github.iommufd4j.Command;
import io.github.iommufd4j.bindings.uapi.iommu_destroy;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The ioctl dispatcher's size and number checks, through raw structs (sheet section 1.2, selftest cmd_length / cmd_fail). */
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

    @Test
    void unknownMockOpIsEOPNOTSUPP() {
        requireMock();
        MemorySegment s = struct(72, 72);
        s.set(ValueLayout.JAVA_INT, 4, 0x7fff); // op
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.TEST_CMD.request(), s));
    }
}
