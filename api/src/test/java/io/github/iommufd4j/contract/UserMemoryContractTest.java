package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import io.github.iommufd4j.testing.Mappings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.IOMMU_IOAS_ALLOC;
import static io.github.iommufd4j.testing.Mappings.at;
import static io.github.iommufd4j.testing.Mappings.unmap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * User memory that is gone or read-only, given as raw addresses ({@code mmap} through Libc,
 * wrapped with {@code MemorySegment.ofAddress}): the kernel answers EFAULT where it pins or copies
 * such memory, and neither backend may crash the JVM. Where the software backend cannot
 * reproduce the kernel's pinned pages, see docs/software-backend.md (and the software backend's
 * own tests).
 */
class UserMemoryContractTest extends ContractTestBase {
    private final Mappings mappings = new Mappings();

    @AfterEach
    void unmapAll() {
        mappings.close();
    }

    private long mmap(long length, int prot) {
        return mappings.map(length, prot);
    }

    @Test
    void mapOfMemoryUnmappedHalfWayOrAtItsStartIsEFAULTWithADomain() throws Exception { // kernel selftest test_basic_mmap
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addDevice(ioas);
        long va = mmap(4 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        unmap(va + 2 * PAGE, 2 * PAGE);
        assertErrno("EFAULT", () -> ioas.map(at(va, 4 * PAGE), Access.READ_WRITE));
        unmap(va, 2 * PAGE);
        assertErrno("EFAULT", () -> ioas.map(at(va, 4 * PAGE), Access.READ_WRITE));
        assertErrno("EFAULT", () -> ioas.map(at(va, PAGE), Access.READ));
        ioas.map(buffer(PAGE), Access.READ_WRITE); // the IOAS is unharmed
    }

    @Test
    void withoutADomainUnmappedMemoryMapsAndTheDeviceAttachIsEFAULT() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        long va = mmap(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        unmap(va, 2 * PAGE);
        long iova = MockDriver.APERTURE_START; // inside the mock aperture, which the attach reserves around
        ioas.map(at(va, 2 * PAGE), iova, Access.READ_WRITE); // no domain: nothing is pinned yet
        assertErrno("EFAULT", () -> mock.addDevice(ioas)); // the attach pins every area
        ioas.unmap(iova, 2 * PAGE);
        mock.addDevice(ioas);
    }

    /**
     * Every map with a domain pins the memory as it is now: memory that was mapped and unmapped
     * many times at the same IOVA, then replaced by a read-only mapping or unmapped by the
     * application, is EFAULT at the next map, whether the segment is raw or an arena's view of the
     * mapping (no result of an earlier pin is reused), and maps again once it is back.
     */
    @Test
    void memoryTheApplicationUnmapsOrMakesReadOnlyBetweenMapsIsEFAULTAtTheNextMap() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addDevice(ioas);
        long iova = MockDriver.APERTURE_START;
        for (boolean raw : new boolean[] {true, false}) {
            long va = mmap(PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
            MemorySegment page = raw ? at(va, PAGE) : MemorySegment.ofAddress(va).reinterpret(PAGE, arena, null);
            for (int i = 0; i < 1000; i++) {
                ioas.map(page, iova, Access.READ_WRITE);
                assertEquals(PAGE, ioas.unmap(iova, PAGE));
            }
            long readOnly = Libc.mmap(va, PAGE, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED, -1, 0);
            assertEquals(va, readOnly, "mmap MAP_FIXED");
            assertErrno("EFAULT", () -> ioas.map(page, iova, Access.READ_WRITE)); // pinned for writing
            ioas.map(page, iova, Access.READ);
            assertEquals(PAGE, ioas.unmap(iova, PAGE));
            unmap(va, PAGE);
            assertErrno("EFAULT", () -> ioas.map(page, iova, Access.READ));
            assertErrno("EFAULT", () -> ioas.map(page, iova, Access.READ)); // a failed pin is not remembered either
            long again = mappings.mapAgainAt(va, PAGE);
            assumeTrue(again == va, "the address was taken again before the test could map it: " + again);
            ioas.map(page, iova, Access.READ_WRITE);
            assertEquals(PAGE, ioas.unmap(iova, PAGE));
        }
    }

    private record Mapped(Ioas ioas, long va, long iova, MockAccess access) {}

    /** Two pages of 0x11 in fresh mmap'd memory, mapped READ_WRITE in an IOAS with a mock device, and an access to it. */
    private Mapped mapWithDomainAndAccess() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        mock.addDevice(ioas);
        long va = mmap(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        at(va, 2 * PAGE).fill((byte) 0x11);
        long iova = ioas.map(at(va, 2 * PAGE), Access.READ_WRITE);
        return new Mapped(ioas, va, iova, mock.createAccess(ioas, false));
    }

    @Test
    void accessRwThroughMemoryUnmappedAfterTheMapIsEFAULT() throws Exception { // issue 15 item 5
        Mapped m = mapWithDomainAndAccess();
        long va = m.va, iova = m.iova;
        MockAccess access = m.access;
        MemorySegment buf = arena.allocate(2 * PAGE);
        access.rw(iova, buf, false);
        assertEquals(0x11, buf.get(ValueLayout.JAVA_BYTE, 2 * PAGE - 1));
        unmap(va, 2 * PAGE);
        // ACCESS_RW copies at the user VA in the calling process (copy_from_user/copy_to_user), not through the pinned pages
        assertErrno("EFAULT", () -> access.rw(iova, buf, false));
        assertErrno("EFAULT", () -> access.rw(iova + PAGE, buf.asSlice(0, 8), true));
        m.ioas.unmap(iova, 2 * PAGE);
        long fresh = m.ioas.map(buffer(PAGE), Access.READ_WRITE);
        access.rw(fresh, buf.asSlice(0, 8), true); // the JVM, the IOAS and the access live on
    }

    @Test
    void accessRwAfterANewMappingAtTheSameAddressReachesTheNewMapping() throws Exception {
        Mapped m = mapWithDomainAndAccess();
        long va = m.va, iova = m.iova;
        MockAccess access = m.access;
        unmap(va, 2 * PAGE);
        long again = mappings.mapAgainAt(va, 2 * PAGE);
        assumeTrue(again == va, "the address was taken again before the test could map it: " + again);
        at(va, 2 * PAGE).fill((byte) 0x22);
        MemorySegment buf = arena.allocate(2 * PAGE);
        // The domain still holds the old pages, but ACCESS_RW's fast path copies at the VA: the new mapping.
        access.rw(iova, buf, false);
        assertEquals(0x22, buf.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(0x22, buf.get(ValueLayout.JAVA_BYTE, 2 * PAGE - 1));
        buf.fill((byte) 0x33);
        access.rw(iova + 8, buf.asSlice(0, 8), true);
        assertEquals(0x33, at(va, 2 * PAGE).get(ValueLayout.JAVA_BYTE, 8));
    }

    @Test
    void readOnlyMemoryPinnedForWritingIsEFAULT() throws Exception { // issue 15 item 7
        requireMock();
        long va = mmap(2 * PAGE, Libc.PROT_READ);
        Ioas withDomain = fd.allocIoas();
        mock.addDevice(withDomain);
        assertErrno("EFAULT", () -> withDomain.map(at(va, 2 * PAGE), Access.READ_WRITE)); // pinned with FOLL_WRITE
        assertErrno("EFAULT", () -> withDomain.map(at(va, 2 * PAGE), Access.WRITE));
        withDomain.map(at(va, 2 * PAGE), Access.READ);

        Ioas noDomain = fd.allocIoas();
        long iova = MockDriver.APERTURE_START;
        noDomain.map(at(va, 2 * PAGE), iova, Access.READ_WRITE); // nothing pinned yet
        MockAccess access = mock.createAccess(noDomain, false);
        MemorySegment buf = arena.allocate(PAGE);
        buf.fill((byte) 0x44);
        access.rw(iova, buf, false); // reading read-only memory is fine
        assertEquals(0, buf.get(ValueLayout.JAVA_BYTE, 0));
        assertErrno("EFAULT", () -> access.rw(iova, buf, true)); // copy_to_user into a read-only mapping
        assertErrno("EFAULT", () -> mock.addDevice(noDomain)); // the attach pins the area for writing
        access.close();
        noDomain.unmap(iova, 2 * PAGE);
        noDomain.map(at(va, 2 * PAGE), iova, Access.READ);
        mock.addDevice(noDomain);
    }

    @Test
    void rawIoctlWithAStructThatIsGoneOrReadOnlyIsEFAULT() throws Exception {
        long gone = mmap(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        MemorySegment tail = at(gone + PAGE - 16, 16); // the struct's size claims 32 bytes; the last 16 are unmapped
        tail.fill((byte) 0);
        tail.set(ValueLayout.JAVA_INT, 0, 32);
        unmap(gone + PAGE, PAGE);
        assertErrno("EFAULT", () -> fd.ioctl(IOMMU_IOAS_ALLOC(), at(gone + PAGE - 16, 32))); // the zero tail cannot be read
        unmap(gone, PAGE);
        assertErrno("EFAULT", () -> fd.ioctl(IOMMU_IOAS_ALLOC(), at(gone, iommu_ioas_alloc.sizeof())));

        // A struct the kernel can read but not write back: the IOAS is made, then dropped again.
        int memfd = Libc.memfdCreate("iommufd4j-ro-struct", Libc.MFD_CLOEXEC);
        assertTrue(memfd >= 0, "memfd_create: " + memfd);
        try {
            assertEquals(0, Libc.ftruncate(memfd, PAGE));
            MemorySegment s = arena.allocate(iommu_ioas_alloc.sizeof());
            iommu_ioas_alloc.size(s, (int) iommu_ioas_alloc.sizeof());
            assertEquals(s.byteSize(), Libc.pwrite(memfd, s, s.byteSize(), 0));
            long ro = mappings.adopt(Libc.mmap(0, PAGE, Libc.PROT_READ, Libc.MAP_SHARED, memfd, 0), PAGE);
            assertErrno("EFAULT", () -> fd.ioctl(IOMMU_IOAS_ALLOC(), at(ro, iommu_ioas_alloc.sizeof())));
        } finally {
            Libc.close(memfd);
        }
        assertEquals(1, fd.allocIoas().id(), "the IOAS whose id could not be written back was destroyed");
    }
}
