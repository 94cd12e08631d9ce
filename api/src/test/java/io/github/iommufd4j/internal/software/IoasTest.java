package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * §3: IOAS map, unmap, copy, ranges, allowed and reserved ranges, alignment.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
class IoasTest extends RawIoasFixture {
    @Test
    void automaticIova() { // §3.2 examples
        MemorySegment m = raw.buffer(2 * MB);
        assertEquals(0x1000, raw.map(ioas, m.asSlice(0, PAGE)));
        int other = raw.ioas();
        raw.mockDomain(other);
        assertEquals(APERTURE, raw.map(other, m.asSlice(0, PAGE)));
        // keeps the user VA's alignment: a 2 MiB map of a 2 MiB-aligned buffer lands 2 MiB-aligned
        assertEquals(2 * MB, raw.map(ioas, m));
        // the page offset is OR'ed in
        is("OK", raw.map(ioas, RW, m.address() + 0x800, 0x800, 0));
        assertEquals(0x800, raw.iova & 0xfff);
    }

    @Test
    void mapChecks() { // §3.1
        MemorySegment m = raw.buffer(2 * PAGE);
        is("EOPNOTSUPP", raw.map(ioas, RW | 8, m.address(), PAGE, 0));
        is("EOVERFLOW", raw.map(ioas, RW | FIXED, m.address(), PAGE, -1L));
        is("EOVERFLOW", raw.map(ioas, RW, m.address(), -1L, 0));
        is("EINVAL", raw.map(ioas, FIXED, m.address(), PAGE, 0));
        is("ENOENT", raw.map(99, RW, m.address(), PAGE, 0));
        is("EINVAL", raw.map(ioas, RW, m.address(), 0, 0));
        is("OK", raw.map(ioas, W, m.address(), PAGE, 0)); // WRITEABLE-only is allowed
        is("OK", raw.map(ioas, RW | FIXED, m.address(), PAGE, 0)); // IOVA 0 is valid for FIXED
        is("OK", raw.map(ioas, RW, 0x80000000L, PAGE, 0)); // no domain: any VA
    }

    @Test
    void mapLengthOverflowOrderDiffers() { // §3.1 row 5
        long len = -100L; // > SIZE_MAX - PAGE_SIZE, and user_va + len overflows
        is("EOVERFLOW", raw.map(ioas, RW, 0x10000, len, 0));
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            is("EINVAL", old.map(old.ioas(), RW, 0x10000, len, 0));
        }
    }

    @Test
    void area() { // iommufd_ioas.area
        MemorySegment m = raw.buffer(2 * PAGE);
        for (int i = 0; i < 4; i++) is("ENOENT", raw.unmap(ioas, i * PAGE, PAGE));
        long base = 16 * PAGE;
        is("OK", raw.mapFixed(ioas, m, base));
        is("EEXIST", raw.mapFixed(ioas, m, base));
        is("EEXIST", raw.mapFixed(ioas, m, base - PAGE));
        is("EEXIST", raw.mapFixed(ioas, m, base + PAGE));
        is("EEXIST", raw.map(ioas, RW | FIXED, m.address(), PAGE, base + PAGE));
        is("EEXIST", raw.map(ioas, RW | FIXED, m.address(), 4 * PAGE, base - PAGE));
        is("ENOENT", raw.unmap(ioas, base, PAGE));
        is("ENOENT", raw.unmap(ioas, base + PAGE, PAGE));
        is("OK", raw.unmap(ioas, base, 2 * PAGE));
        assertEquals(2 * PAGE, raw.length);
    }

    @Test
    void unmapChecks() { // §3.3
        is("ENOENT", raw.unmap(99, 0, PAGE)); // lookup before the overflow checks
        is("EOVERFLOW", raw.unmap(ioas, -1L, PAGE));
        is("EOVERFLOW", raw.unmap(ioas, PAGE, -1L));
        is("EINVAL", raw.unmap(ioas, PAGE, 0));
        is("EOVERFLOW", raw.unmap(ioas, -PAGE, 2 * PAGE));
        is("OK", raw.unmap(ioas, 0, -1L)); // unmap all of nothing
        assertEquals(0, raw.length);
        MemorySegment m = raw.buffer(PAGE);
        raw.map(ioas, m);
        raw.map(ioas, m);
        is("OK", raw.unmap(ioas, 0, -1L));
        assertEquals(2 * PAGE, raw.length);
    }

    @Test
    void unmapFullyContainedAreas() { // iommufd_ioas.unmap_fully_contained_areas
        MemorySegment m = raw.buffer(8 * PAGE);
        long base = 16 * PAGE;
        for (int i = 0; i < 4; i++) is("OK", raw.mapFixed(ioas, m, base + i * 16 * PAGE));
        is("ENOENT", raw.unmap(ioas, base - 4 * PAGE, 8 * PAGE)); // ends inside the first area
        is("ENOENT", raw.unmap(ioas, base + 48 * PAGE + 4 * PAGE, 8 * PAGE)); // starts inside the last
        is("OK", raw.unmap(ioas, base, 60 * PAGE));
        assertEquals(32 * PAGE, raw.length);
    }

    @Test
    void unmapIsNotAtomic() { // §3.3, §8 item 1
        MemorySegment m = raw.buffer(4 * PAGE);
        is("OK", raw.mapFixed(ioas, m.asSlice(0, PAGE), 16 * PAGE));
        is("OK", raw.mapFixed(ioas, m.asSlice(0, 4 * PAGE), 32 * PAGE));
        is("ENOENT", raw.unmap(ioas, 16 * PAGE, 17 * PAGE)); // the second area sticks out
        assertEquals(17 * PAGE, raw.length, "length is not written back on error");
        is("ENOENT", raw.unmap(ioas, 16 * PAGE, PAGE)); // ... but the first area is gone
        is("OK", raw.unmap(ioas, 32 * PAGE, 4 * PAGE));
    }

    @Test
    void copyMakesOneAreaPerSourceArea() { // §3.4, §8 item 11
        MemorySegment m = raw.buffer(4 * PAGE);
        is("OK", raw.mapFixed(ioas, m.asSlice(0, 2 * PAGE), 16 * PAGE));
        is("OK", raw.mapFixed(ioas, m.asSlice(2 * PAGE, 2 * PAGE), 18 * PAGE));
        int dst = raw.ioas();
        is("OK", raw.copy(dst, ioas, RW | FIXED, 17 * PAGE, 2 * PAGE, 64 * PAGE)); // any contiguous sub-range
        is("OK", raw.unmap(dst, 64 * PAGE, PAGE)); // the piece from the first source area
        assertEquals(PAGE, raw.length);
        is("OK", raw.unmap(dst, 65 * PAGE, PAGE));
        // automatic destination IOVA; copy within one IOAS
        is("OK", raw.copy(ioas, ioas, R, 16 * PAGE, 4 * PAGE, 0));
        long at = raw.iova;
        assertEquals(m.address(), raw.b.translate(ioas, at, false));
        assertEquals(-1, raw.b.translate(ioas, at, true));
    }

    @Test
    void copyChecks() { // copy_sweep and friends
        MemorySegment m = raw.buffer(4 * PAGE);
        long base = 16 * PAGE;
        is("OK", raw.map(ioas, R | FIXED, m.address(), 4 * PAGE, base));
        int dst = raw.ioas();
        is("EOPNOTSUPP", raw.copy(dst, ioas, RW | 8, base, PAGE, 0));
        is("EOVERFLOW", raw.copy(dst, ioas, RW, -1L, PAGE, 0));
        is("EINVAL", raw.copy(dst, ioas, FIXED, base, PAGE, 0));
        is("ENOENT", raw.copy(dst, 99, RW, base, PAGE, 0));
        is("EINVAL", raw.copy(dst, ioas, RW, base, 0, 0));
        is("ENOENT", raw.copy(dst, ioas, R, base - PAGE, 2 * PAGE, 0));
        is("ENOENT", raw.copy(dst, ioas, R, base + 3 * PAGE, 2 * PAGE, 0));
        is("ENOENT", raw.copy(99, ioas, R, base, PAGE, 0));
        is("EPERM", raw.copy(dst, ioas, RW, base, PAGE, 0)); // writeable copy of read-only pages
        is("OK", raw.copy(dst, ioas, R, base, PAGE, 0));
    }

    @Test
    void copySyzConvertsTheSourceIova() { // §3.4 row 0
        MemorySegment m = raw.buffer(4 * PAGE);
        is("OK", raw.mapFixed(ioas, m.asSlice(0, PAGE), 16 * PAGE));
        is("OK", raw.mapFixed(ioas, m.asSlice(PAGE, 2 * PAGE), 32 * PAGE));
        int dst = raw.ioas();
        long syz = 1 | (PAGE << 32); // second area, offset one page
        is("OK", raw.copy(dst, ioas, R | FIXED | (1 << 16), syz, PAGE, 0));
        assertEquals(m.address() + 2 * PAGE, raw.b.translate(dst, 0, false));
    }

    @Test
    void iovaRanges() { // iommufd_ioas.iova_ranges, §8 item 7
        int[] rc = new int[1];
        MemorySegment s = raw.ranges(ioas, 4, rc);
        is("OK", rc[0]);
        assertEquals(1, iommu_ioas_iova_ranges.num_iovas(s));
        assertEquals(1, iommu_ioas_iova_ranges.out_iova_alignment(s));
        assertEquals(-1L, Raw.rangesArray(s, 1).get(ValueLayout.JAVA_LONG, 8));
        s = raw.ranges(ioas, 0, rc);
        is("EMSGSIZE", rc[0]);
        assertEquals(1, iommu_ioas_iova_ranges.num_iovas(s));
        is("OK", raw.addReserved(ioas, 16 * PAGE, PAGE));
        s = raw.ranges(ioas, 1, rc);
        is("EMSGSIZE", rc[0]);
        assertEquals(2, iommu_ioas_iova_ranges.num_iovas(s));
        MemorySegment r = Raw.rangesArray(s, 1);
        assertEquals(0, r.get(ValueLayout.JAVA_LONG, 0));
        assertEquals(16 * PAGE - 1, r.get(ValueLayout.JAVA_LONG, 8));
        int dom = raw.ioas();
        raw.mockDomain(dom);
        raw.map(dom, raw.buffer(PAGE)); // mappings do not matter
        s = raw.ranges(dom, 4, rc);
        is("OK", rc[0]);
        assertEquals(1, iommu_ioas_iova_ranges.num_iovas(s));
        assertEquals(2048, iommu_ioas_iova_ranges.out_iova_alignment(s));
        r = Raw.rangesArray(s, 1);
        assertEquals(0x1000000, r.get(ValueLayout.JAVA_LONG, 0));
        assertEquals(0x7fffffff, r.get(ValueLayout.JAVA_LONG, 8));
    }

    @Test
    void allowIovas() { // §3.6, area_allowed, area_auto_iova
        is("EINVAL", raw.allow(ioas, PAGE, PAGE)); // a one-byte range start == last
        is("EINVAL", raw.allow(ioas, PAGE, 4 * PAGE, 2 * PAGE, 8 * PAGE)); // overlapping
        is("OK", raw.allow(ioas, PAGE, 4 * PAGE - 1, 4 * PAGE, 8 * PAGE)); // touching is fine
        is("EADDRINUSE", raw.addReserved(ioas, 2 * PAGE, PAGE));
        is("OK", raw.allow(ioas));
        is("OK", raw.addReserved(ioas, 2 * PAGE, PAGE));
        is("EADDRINUSE", raw.allow(ioas, PAGE, 600 * PAGE));
        MemorySegment s = raw.struct(iommu_ioas_allow_iovas.sizeof());
        iommu_ioas_allow_iovas.ioas_id(s, ioas);
        iommu_ioas_allow_iovas.num_iovas(s, 1);
        iommu_ioas_allow_iovas.allowed_iovas(s, 0x1234000);
        is("EFAULT", raw.ioctl(IOMMU_IOAS_ALLOW_IOVAS(), s));
        iommu_ioas_allow_iovas.__reserved(s, 1);
        iommu_ioas_allow_iovas.ioas_id(s, 99);
        is("EOPNOTSUPP", raw.ioctl(IOMMU_IOAS_ALLOW_IOVAS(), s));
        // automatic allocation stays inside the allowed ranges; FIXED ignores them
        is("OK", raw.allow(ioas, 64 * PAGE, 128 * PAGE));
        MemorySegment m = raw.buffer(PAGE);
        assertEquals(64 * PAGE, raw.map(ioas, m));
        is("OK", raw.mapFixed(ioas, m, 4 * PAGE));
        // a domain's aperture reservation conflicts with an allowed range below it
        is("EADDRINUSE", raw.mockDomain(ioas));
    }

    @Test
    void reservedOverflow() { // iommufd_ioas.reserved_overflow
        is("OK", raw.addReserved(ioas, 6, 0xffffffffffff8001L));
        MemorySegment m = raw.buffer(0x5000);
        is("ENOSPC", raw.map(ioas, RW, m.address(), 0x5000, 0));
        is("EINVAL", raw.addReserved(ioas, 0, 0));
        is("EOVERFLOW", raw.addReserved(ioas, -PAGE, 2 * PAGE));
        is("ENOENT", raw.addReserved(99, 0, PAGE));
        is("EINVAL", raw.mapFixed(ioas, m, 16 * PAGE)); // FIXED into a reserved range
    }

    @Test
    void alignment() { // ioas_iova_alloc, ioas_align_change
        MemorySegment m = raw.buffer(4 * PAGE);
        raw.mockDomain(ioas);
        is("EINVAL", raw.map(ioas, RW, m.address(), 1024, 0)); // length % 2048
        is("OK", raw.map(ioas, RW, m.address(), 2048, 0));
        int other = raw.ioas();
        is("OK", raw.map(other, RW | FIXED, m.address() + 2048, 2048, 16 * PAGE + 2048));
        is("EADDRINUSE", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), other, 0));
        is("OK", raw.unmap(other, 0, -1L));
        is("OK", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), other, 0));
        is("EINVAL", raw.map(other, RW | FIXED, m.address() + 2048, PAGE, 16 * PAGE));
        is("EINVAL", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), ioas, 0)); // domain + area
    }

    @Test
    void pinningHappensAtDomainCreation() { // fork_gone, §8 item 10
        is("OK", raw.map(ioas, RW | FIXED, 0x80000000L, PAGE, APERTURE)); // unregistered: nothing is touched
        is("EFAULT", raw.mockDomain(ioas));
        int next = raw.ioas();
        assertEquals(2, next, "the three IDs MOCK_DOMAIN reserved were released");
        is("OK", raw.mockDomain(next));
        is("EFAULT", raw.map(next, RW, 0x80000000L, PAGE, 0)); // with a domain: pinned now
    }

    @Test
    void closedArenaGivesEfaultNotACrash() {
        Arena user = Arena.ofShared();
        MemorySegment m = user.allocate(2 * PAGE, PAGE);
        raw.b.registerMemory(m);
        is("OK", raw.mapFixed(ioas, m, APERTURE));
        user.close();
        is("EFAULT", raw.mockDomain(ioas));
        is("OK", raw.createAccess(ioas, 0));
        MemorySegment buf = raw.buffer(16);
        is("EFAULT", raw.accessRw(raw.fd, APERTURE, buf, 0));
    }
}
