package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.testing.Mappings;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static org.junit.jupiter.api.Assertions.*;

/** The vEVENTQ fd through the backend seam: the kernel's read and write rules (docs/kernel-behaviour.md §5.7). */
class VeventqTest {
    @Test
    void readNeedsRoomForAHeaderAndWholeEventsAndWriteIsRefused() {
        try (Raw r = new Raw()) {
            int ioas = r.ioas();
            assertEquals(0, r.mockDomain(ioas));
            int idev = r.idev, stdev = r.stdev;
            assertEquals(0, r.hwptAlloc(IOMMU_HWPT_ALLOC_NEST_PARENT(), idev, ioas, 0, null, 0));
            int parent = r.hwpt;
            MemorySegment v = r.struct(iommu_viommu_alloc.sizeof());
            iommu_viommu_alloc.type(v, IOMMU_VIOMMU_TYPE_SELFTEST());
            iommu_viommu_alloc.dev_id(v, idev);
            iommu_viommu_alloc.hwpt_id(v, parent);
            assertEquals(0, r.ioctl(IOMMU_VIOMMU_ALLOC(), v));
            int viommu = iommu_viommu_alloc.out_viommu_id(v);
            MemorySegment vd = r.struct(iommu_vdevice_alloc.sizeof());
            iommu_vdevice_alloc.viommu_id(vd, viommu);
            iommu_vdevice_alloc.dev_id(vd, idev);
            iommu_vdevice_alloc.virt_id(vd, 0x31);
            assertEquals(0, r.ioctl(IOMMU_VDEVICE_ALLOC(), vd));
            assertEquals(0, r.hwptAlloc(0, idev, viommu, IOMMU_HWPT_DATA_SELFTEST(), r.selftestData(0), 0));
            assertEquals(0, r.replace(stdev, r.hwpt));
            MemorySegment q = r.struct(iommu_veventq_alloc.sizeof());
            iommu_veventq_alloc.viommu_id(q, viommu);
            iommu_veventq_alloc.type(q, IOMMU_VEVENTQ_TYPE_SELFTEST());
            iommu_veventq_alloc.veventq_depth(q, 2);
            assertEquals(0, r.ioctl(IOMMU_VEVENTQ_ALLOC(), q));
            int qfd = iommu_veventq_alloc.out_veventq_fd(q);
            MemorySegment buf = r.buffer(64);
            assertEquals(-Err.EINVAL, r.b.read(qfd, buf, 7)); // even when empty
            assertEquals(0, r.b.read(qfd, buf, 64));
            assertEquals(-Err.EINVAL, r.b.write(qfd, buf, 8));
            MemorySegment t = r.test(IOMMU_TEST_OP_TRIGGER_VEVENT(), 0);
            iommu_test_cmd.trigger_vevent.dev_id(iommu_test_cmd.trigger_vevent(t), idev);
            assertEquals(0, r.ioctl(IOMMU_TEST_CMD(), t));
            try (Mappings m = new Mappings()) { // a buffer the kernel cannot write: EFAULT, and the event stays
                long gone = m.map(4096, Libc.PROT_READ | Libc.PROT_WRITE);
                Mappings.unmap(gone, 4096);
                assertEquals(-Err.EFAULT, r.b.read(qfd, Mappings.at(gone, 64), 64));
                assertEquals(-Err.EFAULT, r.b.read(qfd, buf.asReadOnly(), 64));
            }
            assertEquals(-Err.EINVAL, r.b.read(qfd, buf, 8)); // a 12-byte event does not fit
            for (int i = 0; i < 2; i++) assertEquals(0, r.ioctl(IOMMU_TEST_CMD(), t)); // the third is lost
            assertEquals(12, r.b.read(qfd, buf, 23)); // whole events only: the second does not fit in 11 bytes
            assertEquals(12, r.b.read(qfd, buf.asSlice(12), 12)); // and the lost header waits
            assertEquals(0x31, buf.get(ValueLayout.JAVA_INT, 8));
            assertEquals(1, buf.get(ValueLayout.JAVA_INT, 12 + 4) - buf.get(ValueLayout.JAVA_INT, 4));
            assertEquals(8, r.b.read(qfd, buf, 8)); // the lost header needs only 8 bytes
            assertEquals(1, buf.get(ValueLayout.JAVA_INT, 0));
            assertEquals(0, r.ioctl(IOMMU_TEST_CMD(), t));
            try (Mappings m = new Mappings()) { // raw memory that is mapped is written like any other
                MemorySegment live = Mappings.at(m.map(4096, Libc.PROT_READ | Libc.PROT_WRITE), 64);
                assertEquals(12, r.b.read(qfd, live, 64));
                assertEquals(0x31, live.get(ValueLayout.JAVA_INT, 8));
            }
            assertEquals(-Err.EBUSY, r.destroy(iommu_veventq_alloc.out_veventq_id(q))); // the fd holds it
            assertEquals(0, r.b.closeFd(qfd));
            assertEquals(0, r.destroy(iommu_veventq_alloc.out_veventq_id(q)));
        }
    }
}
