package io.github.iommufd4j.contract;

import io.github.iommufd4j.Command;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Linux 7.x commands through raw structs: flags and reserved fields, the order of the first
 * checks (docs/kernel-behaviour.md §1.4, §3.9, §5.7), and the vEVENTQ fd's read and write rules.
 */
class Linux7RawContractTest extends ContractTestBase {

    @BeforeEach
    void has7() {
        assumeTrue(fd.supports(Command.VIOMMU_ALLOC), "kernel without the Linux 7.x commands");
    }

    MemorySegment struct(MemoryLayout layout) {
        MemorySegment s = arena.allocate(layout);
        s.set(ValueLayout.JAVA_INT, 0, (int) layout.byteSize());
        return s;
    }

    @Test
    void flagsAndReservedFieldsComeFirst() {
        MemorySegment f = struct(iommu_ioas_map_file.layout());
        iommu_ioas_map_file.flags(f, IOMMU_IOAS_MAP_READABLE() | (1 << 5));
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_MAP_FILE.request(), f));
        iommu_ioas_map_file.flags(f, 0);
        assertErrno("EINVAL", () -> fd.ioctl(Command.IOAS_MAP_FILE.request(), f)); // neither READ nor WRITE
        iommu_ioas_map_file.flags(f, IOMMU_IOAS_MAP_READABLE());
        iommu_ioas_map_file.ioas_id(f, 99);
        assertErrno("ENOENT", () -> fd.ioctl(Command.IOAS_MAP_FILE.request(), f));

        MemorySegment c = struct(iommu_ioas_change_process.layout());
        iommu_ioas_change_process.__reserved(c, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_CHANGE_PROCESS.request(), c));

        MemorySegment q = struct(iommu_veventq_alloc.layout());
        iommu_veventq_alloc.type(q, MockDriver.VEVENTQ_TYPE_SELFTEST);
        iommu_veventq_alloc.veventq_depth(q, 2);
        iommu_veventq_alloc.__reserved(q, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.VEVENTQ_ALLOC.request(), q));
        iommu_veventq_alloc.__reserved(q, 0);
        assertErrno("ENOENT", () -> fd.ioctl(Command.VEVENTQ_ALLOC.request(), q)); // viommu 0

        MemorySegment h = struct(iommu_hw_queue_alloc.layout());
        iommu_hw_queue_alloc.type(h, MockDriver.HW_QUEUE_TYPE_SELFTEST);
        iommu_hw_queue_alloc.flags(h, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.HW_QUEUE_ALLOC.request(), h));

        MemorySegment v = struct(iommu_vdevice_alloc.layout());
        assertErrno("ENOENT", () -> fd.ioctl(Command.VDEVICE_ALLOC.request(), v)); // viommu 0

        MemorySegment p = struct(iommu_ioas_noiommu_get_pa.layout());
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.IOAS_NOIOMMU_GET_PA.request(), p));
        p.set(ValueLayout.JAVA_INT, 0, 8); // shorter than its last required field
        assertErrno("EINVAL", () -> fd.ioctl(Command.IOAS_NOIOMMU_GET_PA.request(), p));
    }

    @Test
    void viommuAllocNeverChecksItsReservedField() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        MemorySegment s = struct(iommu_viommu_alloc.layout());
        iommu_viommu_alloc.type(s, MockDriver.VIOMMU_TYPE_SELFTEST);
        iommu_viommu_alloc.dev_id(s, dev.deviceId());
        iommu_viommu_alloc.hwpt_id(s, parent.id());
        iommu_viommu_alloc.__reserved(s, 0x1234);
        fd.ioctl(Command.VIOMMU_ALLOC.request(), s);
        int id = iommu_viommu_alloc.out_viommu_id(s);
        assertTrue(id > parent.id());
        iommu_viommu_alloc.flags(s, 1);
        assertErrno("EOPNOTSUPP", () -> fd.ioctl(Command.VIOMMU_ALLOC.request(), s));
        fd.destroy(id);
    }

    @Test
    void theEventQueueFdIsReadOnly() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        var v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
        var q = v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 4);
        assertFalse(q.await(0));
        // A raw read(2) of the software backend's fd reads an eventfd (its backend seam has the
        // kernel's rules: VeventqTest); the kernel's fd is checked here.
        assumeTrue(fd.backend() == io.github.iommufd4j.Backend.NATIVE, "raw read(2) of the kernel's fd");
        MemorySegment b = arena.allocate(16);
        assertEquals(-22, Libc.read(q.fd(), b, 7)); // room for a header is needed even when empty
        assertEquals(0, Libc.read(q.fd(), b, 16));
        assertEquals(-22, Libc.write(q.fd(), b, 8)); // no write op
    }
}
