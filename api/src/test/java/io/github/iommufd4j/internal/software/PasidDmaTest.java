package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map_file;
import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What only the software backend has, for the 7.3 PASID and dma-buf ops: device DMA through the
 * HWPT attached at a PASID, and through a mock dma-buf's mapping until it is revoked. (The
 * kernel-visible behaviour is in the contract suite, MockPasidContractTest.)
 */
class PasidDmaTest {
    final Raw raw = new Raw();
    int ioas, stdev, dev;

    @BeforeEach
    void setUp() {
        ioas = raw.ioas();
        is("OK", raw.mockDomainFlags(ioas, MOCK_FLAGS_DEVICE_PASID(), true));
        stdev = raw.stdev;
        dev = raw.idev;
    }

    @AfterEach
    void close() {
        raw.close();
    }

    int pasidOp(int op, int pasid, int ptId) {
        MemorySegment s = raw.test(op, stdev);
        iommu_test_cmd.pasid_attach.pasid(iommu_test_cmd.pasid_attach(s), pasid);
        iommu_test_cmd.pasid_attach.pt_id(iommu_test_cmd.pasid_attach(s), ptId);
        return raw.ioctl(IOMMU_TEST_CMD(), s);
    }

    @Test
    void dmaAtAPasidGoesThroughTheHwptAttachedThere() {
        MemorySegment m = raw.buffer(PAGE);
        m.set(ValueLayout.JAVA_LONG, 0, 0x1234_5678L);
        is("OK", raw.hwptAlloc(IOMMU_HWPT_ALLOC_PASID(), dev, ioas, 0, null, 0));
        int s2 = raw.hwpt;
        is("OK", raw.replace(stdev, s2));
        is("OK", raw.map(ioas, RW | FIXED, m.address(), PAGE, APERTURE));
        MemorySegment data = raw.arena.allocate(8);
        is("EFAULT", raw.b.deviceDma(dev, 5, APERTURE, data, false, 0)); // nothing at PASID 5, a paging RID
        is("OK", pasidOp(IOMMU_TEST_OP_PASID_ATTACH(), 5, s2));
        is("OK", raw.b.deviceDma(dev, 5, APERTURE, data, false, 0));
        assertEquals(0x1234_5678L, data.get(ValueLayout.JAVA_LONG, 0));
        is("OK", pasidOp(IOMMU_TEST_OP_PASID_DETACH(), 5, 0));
        is("EFAULT", raw.b.deviceDma(dev, 5, APERTURE, data, false, 0));
        is("OK", pasidOp(IOMMU_TEST_OP_PASID_DETACH(), 0, 0)); // the RID too
        is("EFAULT", raw.b.deviceDma(dev, 0, APERTURE, data, false, 0));
    }

    @Test
    void dmaReachesADmabufUntilItIsRevoked() {
        MemorySegment get = raw.test(IOMMU_TEST_OP_DMABUF_GET(), 0);
        iommu_test_cmd.dmabuf_get.length(iommu_test_cmd.dmabuf_get(get), (int) (2 * PAGE));
        int lowest = Libc.dupCloexec(0);
        Libc.close(lowest);
        is("OK", raw.ioctl(IOMMU_TEST_CMD(), get)); // returns 0: the fd is the lowest free one
        int dmabuf = lowest;
        try {
            MemorySegment map = raw.struct(iommu_ioas_map_file.sizeof());
            iommu_ioas_map_file.flags(map, RW | FIXED);
            iommu_ioas_map_file.ioas_id(map, ioas);
            iommu_ioas_map_file.fd(map, dmabuf);
            iommu_ioas_map_file.start(map, PAGE);
            iommu_ioas_map_file.length(map, PAGE);
            iommu_ioas_map_file.iova(map, APERTURE);
            is("OK", raw.ioctl(IOMMU_IOAS_MAP_FILE(), map));
            MemorySegment data = raw.arena.allocate(8);
            data.set(ValueLayout.JAVA_LONG, 0, 0xfeed_f00dL);
            is("OK", raw.b.deviceDma(dev, 0, APERTURE + 16, data, true, 0));
            MemorySegment back = raw.arena.allocate(8);
            assertEquals(8, Libc.pread(dmabuf, back, 8, PAGE + 16)); // in the buffer, at start + 16
            assertEquals(0xfeed_f00dL, back.get(ValueLayout.JAVA_LONG, 0));
            MemorySegment revoke = raw.test(IOMMU_TEST_OP_DMABUF_REVOKE(), 0);
            iommu_test_cmd.dmabuf_revoke.dmabuf_fd(iommu_test_cmd.dmabuf_revoke(revoke), dmabuf);
            is("OK", raw.ioctl(IOMMU_TEST_CMD(), revoke)); // revoked = 0: still invalidates the mapping
            is("EFAULT", raw.b.deviceDma(dev, 0, APERTURE + 16, data, false, 0));
            assertEquals(-1, raw.b.translate(ioas, APERTURE, false));
        } finally {
            Libc.close(dmabuf);
        }
    }
}
