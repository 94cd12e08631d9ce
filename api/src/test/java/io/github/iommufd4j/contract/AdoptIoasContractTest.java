package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_ALLOC;
import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP;
import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP_FIXED_IOVA;
import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP_READABLE;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code Iommufd.adoptIoas}: a handle for an IOAS made without one (as a helper process makes it
 * before handing the iommufd over), checked with IOMMU_IOAS_IOVA_RANGES, owning the object.
 */
class AdoptIoasContractTest extends ContractTestBase {

    /** IOMMU_IOAS_ALLOC through the raw escape hatch: an IOAS no handle knows about. */
    int rawIoas() throws Exception {
        MemorySegment s = arena.allocate(iommu_ioas_alloc.layout());
        iommu_ioas_alloc.size(s, (int) iommu_ioas_alloc.sizeof());
        fd.ioctl(IOMMU_IOAS_ALLOC(), s);
        return iommu_ioas_alloc.out_ioas_id(s);
    }

    @Test
    void anAdoptedIoasWorksAndClosingItDestroysIt() throws Exception {
        int id = rawIoas();
        Ioas ioas = fd.adoptIoas(id);
        assertEquals(id, ioas.id());
        MemorySegment m = buffer(PAGE);
        ioas.map(m, 0x100000, Access.READ_WRITE);
        assertFalse(ioas.iovaRanges().ranges().isEmpty());
        ioas.close();
        assertErrno("ENOENT", () -> fd.destroy(id)); // the adopted handle owned it
    }

    @Test
    void aMappingMadeBeforeAdoptionCanBeUnmapped() throws Exception {
        int id = rawIoas();
        MemorySegment m = buffer(PAGE); // kept alive by the test's arena, as the maker would
        MemorySegment s = arena.allocate(iommu_ioas_map.layout());
        iommu_ioas_map.size(s, (int) iommu_ioas_map.sizeof());
        iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_FIXED_IOVA() | IOMMU_IOAS_MAP_READABLE());
        iommu_ioas_map.ioas_id(s, id);
        iommu_ioas_map.user_va(s, m.address());
        iommu_ioas_map.length(s, PAGE);
        iommu_ioas_map.iova(s, 0x300000);
        fd.ioctl(IOMMU_IOAS_MAP(), s);
        try (Ioas ioas = fd.adoptIoas(id)) {
            assertErrno("EEXIST", () -> ioas.map(buffer(PAGE), 0x300000, Access.READ));
            assertEquals(PAGE, ioas.unmap(0x300000, PAGE));
        }
    }

    @Test
    void aSecondOwnerIsRefused() throws Exception {
        Ioas made = fd.allocIoas();
        assertThrows(IllegalArgumentException.class, () -> fd.adoptIoas(made.id()), "the allocating handle owns it");
        int id = rawIoas();
        Ioas adopted = fd.adoptIoas(id);
        assertThrows(IllegalArgumentException.class, () -> fd.adoptIoas(id), "the adopting handle owns it");
        adopted.close();
        made.close();
    }

    @Test
    void anIdThatIsNoIoasIsENOENT() throws Exception {
        assertErrno("ENOENT", () -> fd.adoptIoas(0));
        assertErrno("ENOENT", () -> fd.adoptIoas(4242));
        int id = rawIoas();
        fd.destroy(id);
        assertErrno("ENOENT", () -> fd.adoptIoas(id)); // destroyed
    }

    @Test
    void anObjectOfAnotherKindIsENOENT() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = fd.mock().addDevice(ioas);
        assertErrno("ENOENT", () -> fd.adoptIoas(dev.hwptId()));
        assertErrno("ENOENT", () -> fd.adoptIoas(dev.stdevId()));
    }

    @Test
    void afterTheAdoptedHandleClosedTheIdCanBeAdoptedAgainOnlyIfItStillExists() throws Exception {
        int id = rawIoas();
        fd.adoptIoas(id).close();
        assertErrno("ENOENT", () -> fd.adoptIoas(id));
        int again = rawIoas();
        assertEquals(id, again, "the lowest free id is reused");
        try (Ioas ioas = fd.adoptIoas(again)) {
            assertEquals(again, ioas.id());
        }
    }

    @Test
    void closingTheIommufdClosesAnAdoptedHandle() throws Exception {
        Ioas ioas = fd.adoptIoas(rawIoas());
        fd.close();
        assertTrue(ioas.isClosed());
    }
}
