package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The mock accesses of docs/kernel-behaviour.md §6.2: CREATE_ACCESS, ACCESS_RW, ACCESS_PAGES, pins,
 * ACCESS_REPLACE_IOAS.
 */
class AccessTest extends RawIoasFixture {
    static final int PIN = MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES(), RW_WRITE = MOCK_ACCESS_RW_WRITE();
    @Test
    void accessRw() {
        MemorySegment a = raw.buffer(PAGE), bb = raw.buffer(PAGE);
        is("OK", raw.mapFixed(ioas, a, 16 * PAGE));
        is("OK", raw.map(ioas, R | FIXED, bb.address(), PAGE, 17 * PAGE));
        is("EOPNOTSUPP", raw.createAccess(ioas, 2));
        is("ENOENT", raw.createAccess(99, 0));
        is("OK", raw.createAccess(ioas, 0));
        int fd = raw.fd;
        is("EBUSY", raw.destroy(2)); // the hidden ACCESS id
        MemorySegment buf = raw.buffer(PAGE);
        buf.fill((byte) 7);
        is("OK", raw.accessRw(fd, 16 * PAGE + 100, buf.asSlice(0, 8), RW_WRITE)); // byte granular
        assertEquals(7, a.get(ValueLayout.JAVA_BYTE, 100));
        bb.set(ValueLayout.JAVA_BYTE, 3, (byte) 9);
        is("OK", raw.accessRw(fd, 17 * PAGE - 4, buf.asSlice(0, 8), 0)); // crosses two areas
        assertEquals(9, buf.get(ValueLayout.JAVA_BYTE, 7));
        buf.fill((byte) 7);
        is("EPERM", raw.accessRw(fd, 17 * PAGE - 4, buf.asSlice(0, 8), RW_WRITE)); // second area read-only
        assertEquals(7, a.get(ValueLayout.JAVA_BYTE, PAGE - 1), "the first area was written before the failure");
        is("ENOENT", raw.accessRw(fd, 18 * PAGE - 4, buf.asSlice(0, 8), 0));
        is("EINVAL", raw.accessRw(fd, 16 * PAGE, buf.asSlice(0, 0), 0));
        is("EOPNOTSUPP", raw.accessRw(fd, 16 * PAGE, buf.asSlice(0, 8), 8));
        is("EBADFD", raw.accessRw(12345, 16 * PAGE, buf.asSlice(0, 8), 0));
        MemorySegment huge = MemorySegment.ofAddress(buf.address()).reinterpret((16 << 20) + 1);
        is("ENOMEM", raw.accessRw(fd, 16 * PAGE, huge, 0));
        is("EFAULT", raw.accessRw(fd, 16 * PAGE, MemorySegment.ofAddress(0x1000).reinterpret(8), RW_WRITE));
        is("EINVAL", (int) raw.b.read(fd, buf, 40));
        is("OK", raw.b.closeFd(fd));
        is("EBADF", raw.b.closeFd(fd));
        is("OK", raw.destroy(ioas)); // the access's reference went with it
    }

    @Test
    void accessPagesAndPins() { // access_pin, access_pin_unmap, MD_CHECK_REFS
        raw.mockDomain(ioas);
        MemorySegment m = raw.buffer(4 * PAGE);
        long at = raw.map(ioas, m);
        is("OK", raw.checkRefs(m.address(), 4 * PAGE, 1)); // pinned by the domain
        is("OK", raw.createAccess(ioas, 0));
        is("EOPNOTSUPP", raw.accessPages(raw.fd, at, PAGE, 0, 0)); // access without NEEDS_PIN_PAGES
        is("OK", raw.createAccess(ioas, PIN));
        int fd = raw.fd;
        is("ENOMEM", raw.accessPages(fd, at, (16 << 20) + 1, 0, 8)); // length first
        is("EOPNOTSUPP", raw.accessPages(fd, at, PAGE, 0, 8));
        is("EBADFD", raw.accessPages(777, at, PAGE, 0, 0));
        is("EINVAL", raw.accessPages(fd, at, 0, 0, 0));
        is("EOVERFLOW", raw.accessPages(fd, -PAGE, 2 * PAGE, 0, 0));
        is("ENOENT", raw.accessPages(fd, at + 4 * PAGE, PAGE, 0, 0));
        is("EINVAL", raw.accessPages(fd, at + 100, PAGE, 0, 0)); // not starting a CPU page
        is("EBADE", raw.accessPages(fd, at, PAGE, m.address() + PAGE, 0));
        is("OK", raw.accessPages(fd, at, 2 * PAGE, m.address(), MOCK_FLAGS_ACCESS_WRITE()));
        assertEquals(0, raw.id);
        is("OK", raw.accessPages(fd, at + 2 * PAGE, PAGE, 0, 0));
        assertEquals(1, raw.id, "per-access counter");
        is("OK", raw.checkRefs(m.address(), 4 * PAGE, 1), "one pin per pages object");
        is("EIO", raw.checkRefs(m.address(), PAGE, 2));
        is("EINVAL", raw.checkRefs(m.address() + 1, PAGE, 1));
        is("EFAULT", raw.checkRefs(0x10000, PAGE, 0));
        is("OK", destroyItem(fd, 1));
        is("ENOENT", destroyItem(fd, 1));
        is("OK", raw.unmap(ioas, at, 4 * PAGE)); // the unmap callback drops item 0
        is("ENOENT", destroyItem(fd, 0));
        is("OK", raw.checkRefs(m.address(), 4 * PAGE, 0));
    }

    @Test
    void pinsWithoutDomainAndAlignment() {
        MemorySegment m = raw.buffer(4 * PAGE);
        long at = raw.map(ioas, m);
        is("OK", raw.checkRefs(m.address(), 4 * PAGE, 0)); // no domain, nothing pinned
        is("OK", raw.createAccess(ioas, PIN));
        is("OK", raw.accessPages(raw.fd, at + PAGE, PAGE, 0, 0));
        is("OK", raw.checkRefs(m.address() + PAGE, PAGE, 1));
        is("OK", raw.checkRefs(m.address(), PAGE, 0));
        // a pinning access raises the alignment to PAGE_SIZE
        is("EINVAL", raw.map(ioas, RW | FIXED, m.address() + 2048, 2048, 64 * PAGE));
        int other = raw.ioas();
        is("OK", raw.map(other, RW | FIXED, m.address() + 2048, 2048, 64 * PAGE));
        is("EADDRINUSE", raw.createAccess(other, PIN));
    }

    @Test
    void replaceIoas() {
        MemorySegment m = raw.buffer(PAGE);
        long at = raw.map(ioas, m);
        is("OK", raw.createAccess(ioas, PIN));
        int fd = raw.fd;
        is("OK", raw.accessPages(fd, at, PAGE, 0, 0));
        int other = raw.ioas();
        is("OK", replaceIoas(fd, ioas)); // same IOAS: no-op
        is("OK", destroyItem(fd, 0));
        is("OK", raw.accessPages(fd, at, PAGE, 0, 0));
        is("ENOENT", replaceIoas(fd, 99));
        is("EBADFD", replaceIoas(4242, other));
        is("OK", replaceIoas(fd, other));
        is("ENOENT", destroyItem(fd, 1), "items are unpinned and deleted");
        is("OK", raw.destroy(ioas));
        is("EBUSY", raw.destroy(other));
    }

    int destroyItem(int fd, int item) {
        MemorySegment s = raw.test(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES(), fd);
        iommu_test_cmd.destroy_access_pages.access_pages_id(iommu_test_cmd.destroy_access_pages(s), item);
        return raw.ioctl(IOMMU_TEST_CMD(), s);
    }

    int replaceIoas(int fd, int target) {
        MemorySegment s = raw.test(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS(), fd);
        iommu_test_cmd.access_replace_ioas.ioas_id(iommu_test_cmd.access_replace_ioas(s), target);
        return raw.ioctl(IOMMU_TEST_CMD(), s);
    }

    @Test
    void memoryLimitAndUnknownOps() {
        MemorySegment s = raw.test(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT(), 0);
        iommu_test_cmd.memory_limit.limit(iommu_test_cmd.memory_limit(s), 11);
        is("EINVAL", raw.ioctl(IOMMU_TEST_CMD(), s));
        iommu_test_cmd.memory_limit.limit(iommu_test_cmd.memory_limit(s), 12);
        is("OK", raw.ioctl(IOMMU_TEST_CMD(), s));
        is("EOPNOTSUPP", raw.ioctl(IOMMU_TEST_CMD(), raw.test(99, 0)));
        MemorySegment r = raw.test(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT(), 0);
        iommu_test_cmd.__reserved(r, 5); // never checked
        iommu_test_cmd.memory_limit.limit(iommu_test_cmd.memory_limit(r), 4096);
        is("OK", raw.ioctl(IOMMU_TEST_CMD(), r));
    }
}
