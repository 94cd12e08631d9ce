package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_allow_iovas;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_iova_ranges;
import io.github.iommufd4j.testing.Mappings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static io.github.iommufd4j.testing.Mappings.at;
import static io.github.iommufd4j.testing.Mappings.unmap;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * User memory that goes away or is read-only under a mapping (issue 15 items 5 and 7), on the
 * software backend: EFAULT where the kernel pins or copies, never a JVM crash. The cases where
 * the kernel's pinned pages cannot be reproduced are asserted as the software backend behaves
 * and listed in docs/software-backend.md.
 */
class UserMemoryTest extends RawIoasFixture {
    static final int RW_WRITE = MOCK_ACCESS_RW_WRITE(), RW_SLOW_PATH = MOCK_ACCESS_RW_SLOW_PATH();
    final Mappings mappings = new Mappings();

    @AfterEach
    void unmapAll() {
        mappings.close();
    }

    /** Raw memory as the typed layer hands it over: registered, then mapped at {@code iova}. */
    long mapRaw(int ioasId, long va, long length, int flags, long iova) {
        raw.b.registerMemory(at(va, length));
        return raw.map(ioasId, flags | FIXED, va, length, iova);
    }

    @Test
    void deviceDmaThroughMemoryUnmappedAfterTheMapIsEFAULT() { // the kernel's device would still reach the pinned pages
        is("OK", raw.mockDomain(ioas));
        int dev = raw.idev;
        long va = mappings.map(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        at(va, 2 * PAGE).fill((byte) 0x11);
        is("OK", mapRaw(ioas, va, 2 * PAGE, RW, APERTURE));
        MemorySegment data = raw.arena.allocate(2 * PAGE);
        is("OK", raw.b.deviceDma(dev, 0, APERTURE, data, false, 0));
        assertEquals(0x11, data.get(ValueLayout.JAVA_BYTE, 2 * PAGE - 1));
        unmap(va, 2 * PAGE);
        is("EFAULT", raw.b.deviceDma(dev, 0, APERTURE, data, false, 0));
        is("EFAULT", raw.b.deviceDma(dev, 0, APERTURE + PAGE, data.asSlice(0, 8), true, 0));
        is("EFAULT", raw.b.deviceDma(dev, 0, APERTURE, MemorySegment.ofArray(new byte[64]), true, 0)); // heap device buffer
        assertEquals(va, raw.b.translate(ioas, APERTURE, true), "translation still answers: the caller's access is its own");
        is("OK", raw.createAccess(ioas, 0));
        is("EFAULT", raw.accessRw(raw.fd, APERTURE, raw.buffer(PAGE), 0));
        is("OK", raw.unmap(ioas, APERTURE, 2 * PAGE));
    }

    @Test
    void afterANewMappingAtTheSameAddressTheBackendReachesTheNewMapping() {
        is("OK", raw.mockDomain(ioas));
        int dev = raw.idev, hwpt = raw.hwpt;
        long va = mappings.map(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        at(va, 2 * PAGE).fill((byte) 0x11);
        is("OK", mapRaw(ioas, va, 2 * PAGE, RW, APERTURE));
        unmap(va, 2 * PAGE);
        assumeTrue(mappings.mapAgainAt(va, 2 * PAGE) == va, "the address was taken again");
        at(va, 2 * PAGE).fill((byte) 0x22);
        MemorySegment data = raw.arena.allocate(2 * PAGE);
        // The kernel's device and ACCESS_RW's slow path read the old pinned pages (0x11), and
        // MD_CHECK_MAP sees other physical pages (EINVAL); the software backend has no pages of its own.
        is("OK", raw.b.deviceDma(dev, 0, APERTURE, data, false, 0));
        assertEquals(0x22, data.get(ValueLayout.JAVA_BYTE, 0));
        is("OK", raw.createAccess(ioas, 0));
        MemorySegment buf = raw.buffer(2 * PAGE);
        is("OK", raw.accessRw(raw.fd, APERTURE, buf, RW_SLOW_PATH));
        assertEquals(0x22, buf.get(ValueLayout.JAVA_BYTE, PAGE));
        is("OK", raw.checkMap(hwpt, APERTURE, 2 * PAGE, va));
    }

    @Test
    void aReadOnlySegmentMappedWritableIsEFAULTWhereItIsPinnedOrWritten() { // item 7, below the typed layer's check
        MemorySegment ro = raw.arena.allocate(2 * PAGE, 2 * MB).asReadOnly();
        raw.b.registerMemory(ro);
        readOnlyMemoryMappedWritable(ro.address());
    }

    @Test
    void rawReadOnlyMemoryMappedWritableIsEFAULTWhereItIsPinnedOrWritten() {
        long va = mappings.map(2 * PAGE, Libc.PROT_READ);
        raw.b.registerMemory(at(va, 2 * PAGE));
        readOnlyMemoryMappedWritable(va);
    }

    private void readOnlyMemoryMappedWritable(long va) {
        is("OK", raw.map(ioas, RW | FIXED, va, 2 * PAGE, APERTURE)); // no domain: nothing is pinned
        is("OK", raw.createAccess(ioas, 0));
        MemorySegment buf = raw.buffer(PAGE);
        is("EFAULT", raw.accessRw(raw.fd, APERTURE, buf, RW_WRITE)); // copy_to_user into read-only memory
        is("OK", raw.accessRw(raw.fd, APERTURE, buf, 0));
        is("EFAULT", raw.mockDomain(ioas)); // the attach pins the area for writing

        int other = raw.ioas();
        is("OK", raw.mockDomain(other));
        int dev = raw.idev;
        is("EFAULT", raw.map(other, RW | FIXED, va, 2 * PAGE, APERTURE));
        is("EFAULT", raw.map(other, W | FIXED, va, 2 * PAGE, APERTURE));
        is("OK", raw.map(other, R | FIXED, va, 2 * PAGE, APERTURE));
        MemorySegment data = raw.arena.allocate(PAGE);
        is("EPERM", raw.b.deviceDma(dev, 0, APERTURE, data, true, 0));
        is("OK", raw.b.deviceDma(dev, 0, APERTURE, data, false, 0));
    }

    @Test
    void accessPagesWithoutADomainPinsAndMemoryThatIsGoneIsEFAULT() {
        long va = mappings.map(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        is("OK", mapRaw(ioas, va, 2 * PAGE, RW, 0x100000));
        is("OK", raw.createAccess(ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES()));
        int access = raw.fd;
        is("OK", raw.accessPages(access, 0x100000, 2 * PAGE, 0, 0));
        unmap(va + PAGE, PAGE);
        is("EFAULT", raw.accessPages(access, 0x100000, 2 * PAGE, 0, 0));
        is("OK", raw.accessPages(access, 0x100000, PAGE, 0, 0));
    }

    @Test
    void ioctlArraysInMemoryThatIsGoneOrReadOnlyAreEFAULT() {
        long ro = mappings.map(PAGE, Libc.PROT_READ);
        raw.b.registerMemory(at(ro, PAGE));
        long gone = mappings.map(PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        raw.b.registerMemory(at(gone, PAGE));
        unmap(gone, PAGE);
        MemorySegment allow = raw.struct(iommu_ioas_allow_iovas.sizeof());
        iommu_ioas_allow_iovas.ioas_id(allow, ioas);
        iommu_ioas_allow_iovas.num_iovas(allow, 1);
        iommu_ioas_allow_iovas.allowed_iovas(allow, gone);
        is("EFAULT", raw.ioctl(IOMMU_IOAS_ALLOW_IOVAS(), allow)); // read from user memory

        for (long out : new long[] {gone, ro}) {
            MemorySegment ranges = raw.struct(iommu_ioas_iova_ranges.sizeof());
            iommu_ioas_iova_ranges.ioas_id(ranges, ioas);
            iommu_ioas_iova_ranges.num_iovas(ranges, 1);
            iommu_ioas_iova_ranges.allowed_iovas(ranges, out);
            is("EFAULT", raw.ioctl(IOMMU_IOAS_IOVA_RANGES(), ranges)); // written to user memory
        }
        is("EFAULT", raw.ioctl(IOMMU_IOAS_ALLOC(), at(gone, 12))); // the struct itself
    }
}
