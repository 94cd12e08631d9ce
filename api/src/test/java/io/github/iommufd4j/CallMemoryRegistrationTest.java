package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP;
import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP_FIXED_IOVA;
import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_MAP_READABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The user memory of a typed call is registered with the software backend by the call's ioctl
 * itself (one lock for both, see KernelCall): a successful map keeps it registered until its
 * unmap, and a map refused by the kernel or before the kernel call leaves nothing registered.
 * Registration is observed as the backend sees it: a raw IOAS_MAP of the memory on an IOAS with
 * a mock domain pins it, which succeeds for registered memory and is EFAULT for an address no
 * registration holds.
 */
class CallMemoryRegistrationTest {
    static final long PAGE = 4096;

    Iommufd fd;
    Arena arena;
    Ioas typed, probe;
    MemorySegment page, struct;
    long probeIova = MockDriver.APERTURE_START;

    @BeforeEach
    void open() throws Exception {
        fd = Iommufd.open(Backend.SOFTWARE);
        arena = Arena.ofShared();
        typed = fd.allocIoas();
        probe = fd.allocIoas();
        fd.mock().addDevice(probe);
        page = arena.allocate(PAGE, PAGE);
        struct = arena.allocate(iommu_ioas_map.layout());
    }

    @AfterEach
    void close() {
        fd.close();
        arena.close();
    }

    /** A raw IOAS_MAP of {@link #page} on the IOAS with a domain: "OK", or the errno's name. */
    String rawMapOfPage() {
        struct.fill((byte) 0);
        iommu_ioas_map.size(struct, (int) iommu_ioas_map.sizeof());
        iommu_ioas_map.flags(struct, IOMMU_IOAS_MAP_FIXED_IOVA() | IOMMU_IOAS_MAP_READABLE());
        iommu_ioas_map.ioas_id(struct, probe.id());
        iommu_ioas_map.user_va(struct, page.address());
        iommu_ioas_map.length(struct, PAGE);
        iommu_ioas_map.iova(struct, probeIova);
        int rc = fd.raw().ioctl(IOMMU_IOAS_MAP(), struct);
        if (rc < 0) return Errno.name(-rc);
        probeIova += PAGE;
        return "OK";
    }

    @Test
    void aMapKeepsItsMemoryRegisteredUntilItsUnmap() throws Exception {
        assertEquals("EFAULT", rawMapOfPage()); // never handed to a call
        long iova = typed.map(page, Access.READ_WRITE);
        assertEquals("OK", rawMapOfPage());
        typed.unmap(iova, PAGE);
        assertEquals("EFAULT", rawMapOfPage());
    }

    @Test
    void aMapTheKernelRefusesLeavesNothingRegistered() throws Exception {
        MemorySegment other = arena.allocate(PAGE, PAGE);
        long iova = typed.map(other, Access.READ_WRITE);
        IommufdException e = assertThrows(IommufdException.class, () -> typed.map(page, iova, Access.READ_WRITE));
        assertEquals("EEXIST", e.errnoName());
        assertEquals("EFAULT", rawMapOfPage());
        typed.unmap(iova, PAGE);
        assertEquals("EFAULT", rawMapOfPage());
    }

    @Test
    void aMapRefusedBeforeTheKernelCallLeavesNothingRegistered() throws Exception {
        MemorySegment readOnly = page.asReadOnly();
        assertThrows(IllegalArgumentException.class, () -> typed.map(readOnly, Access.READ_WRITE));
        assertEquals("EFAULT", rawMapOfPage());
        MemorySegment gone;
        try (Arena closed = Arena.ofConfined()) {
            gone = closed.allocate(PAGE, PAGE);
        }
        assertThrows(IllegalStateException.class, () -> typed.map(gone, Access.READ));
        typed.close();
        IommufdException e = assertThrows(IommufdException.class, () -> typed.map(page, Access.READ));
        assertEquals("EBADF", e.errnoName());
        assertEquals("EFAULT", rawMapOfPage());
    }

    @Test
    void refusedMapsOfMappedMemoryLeaveItsRegistrationAsItWas() throws Exception {
        long iova = typed.map(page, Access.READ_WRITE);
        IommufdException e = assertThrows(IommufdException.class, () -> typed.map(page, iova, Access.READ_WRITE)); // registered, then not
        assertEquals("EEXIST", e.errnoName());
        assertThrows(IllegalArgumentException.class, () -> typed.map(page.asReadOnly(), Access.READ_WRITE)); // never registered
        assertEquals("OK", rawMapOfPage());
        typed.unmap(iova, PAGE);
        assertEquals("EFAULT", rawMapOfPage());
    }

    @Test
    void globalMemoryIsRegisteredWhileMappedToo() throws Exception {
        // The native backend keeps no entry for global memory (nothing frees it); this backend
        // must still see it registered while mapped, and no longer after the unmap.
        MemorySegment global = MemorySegment.ofAddress(page.address()).reinterpret(PAGE);
        long iova = typed.map(global, Access.READ_WRITE);
        assertEquals("OK", rawMapOfPage());
        typed.unmap(iova, PAGE);
        assertEquals("EFAULT", rawMapOfPage());
    }

    @Test
    void twoMapsOfTheSameMemoryNeedBothUnmaps() throws Exception {
        long a = typed.map(page, Access.READ_WRITE), b = typed.map(page, Access.READ);
        typed.unmap(a, PAGE);
        assertEquals("OK", rawMapOfPage());
        typed.unmap(b, PAGE);
        assertEquals("EFAULT", rawMapOfPage());
    }
}
