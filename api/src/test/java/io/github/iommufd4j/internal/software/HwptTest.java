package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * §4 and the mock domain ops of §6.2: HWPT_ALLOC, attach/replace, dirty tracking, invalidation, hw info.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
class HwptTest extends RawIoasFixture {
    static final int NEST_PARENT = IOMMU_HWPT_ALLOC_NEST_PARENT(), DIRTY = IOMMU_HWPT_ALLOC_DIRTY_TRACKING();
    static final int FAULT_ID_VALID = IOMMU_HWPT_FAULT_ID_VALID(), SELFTEST = IOMMU_HWPT_DATA_SELFTEST();
    @Test
    void mockDomainIdsAndAutoDomainSharing() { // §2.1, §4.4, §8 items 8, 9
        is("OK", raw.mockDomain(ioas));
        assertEquals(2, raw.stdev);
        assertEquals(3, raw.idev);
        assertEquals(4, raw.hwpt);
        int stdev1 = raw.stdev, auto = raw.hwpt;
        is("OK", raw.mockDomain(ioas));
        assertEquals(auto, raw.hwpt, "two mock devices on one IOAS share the auto domain");
        int stdev2 = raw.stdev;
        is("EBUSY", raw.destroy(auto));
        is("EBUSY", raw.destroy(ioas));
        is("EBUSY", raw.destroy(raw.idev)); // devices are never destroyed directly
        is("OK", raw.destroy(stdev1));
        is("OK", raw.destroy(stdev2)); // the auto domain goes with its last device
        is("ENOENT", raw.destroy(auto));
        is("OK", raw.destroy(ioas));
        is("ENOENT", raw.mockDomain(0)); // hwpt_attach (no_domain)
        is("ENOENT", raw.mockDomain(99));
    }

    @Test
    void mockDomainChecks() {
        is("EINVAL", raw.mockDomainFlags(ioas, 2, true)); // bit 1 is not a 7.3 device flag
        is("EINVAL", raw.mockDomainFlags(ioas, 8, true));
        raw.mockDomain(ioas);
        is("EINVAL", raw.mockDomain(raw.idev)); // a device is no page table
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            is("OK", old.mockDomainFlags(old.ioas(), 2, true)); // HUGE_IOVA in 6.12
            is("EINVAL", old.mockDomainFlags(1, 4, true));
        }
    }

    @Test
    void replace() { // iommufd_mock_domain.replace
        raw.mockDomain(ioas);
        int stdev = raw.stdev, oldAuto = raw.hwpt, dev = raw.idev;
        int other = raw.ioas();
        is("OK", raw.replace(stdev, other));
        int newAuto = raw.hwpt;
        assertNotEquals(oldAuto, newAuto);
        is("ENOENT", raw.replace(stdev, oldAuto)); // the old auto domain was freed
        is("OK", raw.replace(stdev, newAuto)); // same HWPT: no change
        is("ENOENT", raw.replace(0, ioas));
        is("EINVAL", raw.replace(stdev, dev));
        is("OK", raw.hwptAlloc(0, dev, ioas, 0, null, 0));
        int manual = raw.hwpt;
        is("OK", raw.replace(stdev, manual));
        is("EBUSY", raw.destroy(manual)); // iommufd_mock_domain.alloc_hwpt
        is("OK", raw.replace(stdev, other));
        is("OK", raw.destroy(manual));
    }

    @Test
    void allocChecks() { // iommufd_ioas.alloc_hwpt_nested, §4.1/§4.2
        raw.mockDomain(ioas);
        int dev = raw.idev;
        MemorySegment s = raw.struct(iommu_hwpt_alloc.sizeof());
        iommu_hwpt_alloc.__reserved(s, 1);
        is("EOPNOTSUPP", raw.ioctl(IOMMU_HWPT_ALLOC(), s));
        is("EINVAL", raw.hwptAlloc(0, dev, ioas, 0, raw.selftestData(0), 0)); // NONE + data
        is("ENOENT", raw.hwptAlloc(0, ioas, ioas, 0, null, 0)); // dev_id = IOAS
        is("ENOENT", raw.hwptAlloc(0, 0, ioas, 0, null, 0));
        is("EINVAL", raw.hwptAlloc(0, dev, 99, 0, null, 0)); // pt_id missing: EINVAL
        is("EINVAL", raw.hwptAlloc(0, dev, dev, 0, null, 0)); // pt_id a device
        is("EOPNOTSUPP", raw.hwptAlloc(~NEST_PARENT, dev, ioas, 0, null, 0));
        is("EOPNOTSUPP", raw.hwptAlloc(NEST_PARENT | FAULT_ID_VALID, dev, ioas, 0, null, 0));
        is("OK", raw.hwptAlloc(NEST_PARENT, dev, ioas, 0, null, 0));
        int parent = raw.hwpt;
        // nested
        is("EOPNOTSUPP", raw.hwptAlloc(NEST_PARENT, dev, parent, SELFTEST, raw.selftestData(1), 0));
        is("EOPNOTSUPP", raw.hwptAlloc(0, dev, parent, SELFTEST + 1, raw.selftestData(1), 0));
        is("EINVAL", raw.hwptAlloc(0, dev, parent, SELFTEST, raw.selftestData(1).asSlice(0, 3), 0));
        MemorySegment nullData = MemorySegment.ofAddress(0).reinterpret(8);
        is("EFAULT", raw.hwptAlloc(0, dev, parent, SELFTEST, nullData, 0));
        is("ENOENT", raw.hwptAlloc(FAULT_ID_VALID, dev, parent, SELFTEST, raw.selftestData(1), -1));
        is("OK", raw.hwptAlloc(0, dev, ioas, 0, null, 0));
        int plain = raw.hwpt;
        is("EINVAL", raw.hwptAlloc(0, dev, plain, SELFTEST, raw.selftestData(1), 0)); // parent without NEST_PARENT
        is("EINVAL", raw.hwptAlloc(0, dev, 4, SELFTEST, raw.selftestData(1), 0)); // parent = auto domain
        is("OK", raw.hwptAlloc(0, dev, parent, SELFTEST, raw.selftestData(0xbadbeef), 0));
        int nested = raw.hwpt;
        is("EINVAL", raw.hwptAlloc(0, dev, nested, SELFTEST, raw.selftestData(1), 0)); // nested on nested
        is("EBUSY", raw.destroy(parent));
        is("OK", raw.destroy(nested));
        is("OK", raw.destroy(parent));
        is("OK", raw.destroy(plain));
    }

    @Test
    void paging612RefusesFaultsAndData() { // §4.2 column 6.12
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            int io = old.ioas();
            old.mockDomain(io);
            int dev = old.idev;
            old.faultAlloc();
            is("EOPNOTSUPP", old.hwptAlloc(FAULT_ID_VALID, dev, io, 0, null, old.id));
            is("EOPNOTSUPP", old.hwptAlloc(0, dev, io, SELFTEST, old.selftestData(0), 0));
        }
        raw.mockDomain(ioas);
        raw.faultAlloc();
        is("OK", raw.hwptAlloc(FAULT_ID_VALID, raw.idev, ioas, 0, null, raw.id));
    }

    @Test
    void iotlbAndInvalidate() { // §4.7, MD_CHECK_IOTLB
        raw.mockDomain(ioas);
        int dev = raw.idev;
        raw.hwptAlloc(NEST_PARENT, dev, ioas, 0, null, 0);
        int parent = raw.hwpt;
        raw.hwptAlloc(0, dev, parent, SELFTEST, raw.selftestData(0xbadbeef), 0);
        int nested = raw.hwpt;
        for (int i = 0; i < 4; i++) is("OK", checkIotlb(nested, i, 0xbadbeef));
        is("EINVAL", checkIotlb(nested, 4, 0xbadbeef));
        is("EINVAL", checkIotlb(nested, 0, 1));
        is("ENOENT", checkIotlb(parent, 0, 0xbadbeef));

        MemorySegment entries = raw.arena.allocate(16, 8);
        raw.b.registerMemory(entries);
        int[] done = new int[1];
        is("EINVAL", invalidate(parent, entries, 8, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done)); // 7.3: wrong type
        is("EINVAL", invalidate(nested, entries, 8, 0, 0xdadbeef, done)); // wrong type even with 0 entries
        is("OK", invalidate(nested, entries, 8, 0, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        for (int len : new int[] {9, 1, 0, 4097}) {
            is("EINVAL", invalidate(nested, entries, len, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        }
        is("EINVAL", invalidate(nested, entries, 8, (1 << 19) + 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        is("EINVAL", invalidate(nested, MemorySegment.NULL, 8, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        entries.set(ValueLayout.JAVA_INT, 0, 0xffffffff);
        is("EOPNOTSUPP", invalidate(nested, entries, 8, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        entries.set(ValueLayout.JAVA_INT, 0, 0);
        entries.set(ValueLayout.JAVA_INT, 4, 1);
        entries.set(ValueLayout.JAVA_INT, 8, 0);
        entries.set(ValueLayout.JAVA_INT, 12, 4);
        is("EINVAL", invalidate(nested, entries, 8, 2, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        assertEquals(1, done[0], "entry_num is written back with the entries done");
        is("OK", checkIotlb(nested, 0, 0xbadbeef));
        is("OK", checkIotlb(nested, 1, 0));
        entries.set(ValueLayout.JAVA_INT, 0, IOMMU_TEST_INVALIDATE_FLAG_ALL());
        entries.set(ValueLayout.JAVA_INT, 4, 9);
        is("OK", invalidate(nested, entries, 8, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        is("OK", checkIotlb(nested, 3, 0));
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            int io = old.ioas();
            old.mockDomain(io);
            old.hwptAlloc(NEST_PARENT, old.idev, io, 0, null, 0);
            is("ENOENT", invalidate(old, old.hwpt, entries, 8, 1, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), done));
        }
    }

    int checkIotlb(int hwptId, int slot, int value) {
        MemorySegment s = raw.test(IOMMU_TEST_OP_MD_CHECK_IOTLB(), hwptId);
        iommu_test_cmd.check_iotlb.id(iommu_test_cmd.check_iotlb(s), slot);
        iommu_test_cmd.check_iotlb.iotlb(iommu_test_cmd.check_iotlb(s), value);
        return raw.ioctl(IOMMU_TEST_CMD(), s);
    }

    int invalidate(int hwptId, MemorySegment entries, int len, int num, int type, int[] done) {
        return invalidate(raw, hwptId, entries, len, num, type, done);
    }

    static int invalidate(Raw r, int hwptId, MemorySegment entries, int len, int num, int type, int[] done) {
        MemorySegment s = r.struct(iommu_hwpt_invalidate.sizeof());
        iommu_hwpt_invalidate.hwpt_id(s, hwptId);
        iommu_hwpt_invalidate.data_uptr(s, entries.address());
        iommu_hwpt_invalidate.data_type(s, type);
        iommu_hwpt_invalidate.entry_len(s, len);
        iommu_hwpt_invalidate.entry_num(s, num);
        int rc = r.ioctl(IOMMU_HWPT_INVALIDATE(), s);
        done[0] = iommu_hwpt_invalidate.entry_num(s);
        return rc;
    }

    @Test
    void hwInfo() { // §4.8
        raw.mockDomain(ioas);
        int dev = raw.idev;
        MemorySegment data = raw.buffer(16);
        data.fill((byte) 0x55);
        MemorySegment s = raw.struct(iommu_hw_info.sizeof());
        iommu_hw_info.dev_id(s, dev);
        iommu_hw_info.data_len(s, 16);
        iommu_hw_info.data_uptr(s, data.address());
        is("OK", raw.ioctl(IOMMU_GET_HW_INFO(), s));
        assertEquals(8, iommu_hw_info.data_len(s));
        assertEquals(0xfeedbeef, iommu_hw_info.out_data_type(s));
        assertEquals(1 | 8, iommu_hw_info.out_capabilities(s));
        assertEquals(0xdeadbeef, data.get(ValueLayout.JAVA_INT, 4));
        assertEquals(0, data.get(ValueLayout.JAVA_LONG, 8), "the rest of the user buffer is zeroed");
        iommu_hw_info.flags(s, 1);
        iommu_hw_info.in_data_type(s, 0xfeedbeef + 1);
        is("EOPNOTSUPP", raw.ioctl(IOMMU_GET_HW_INFO(), s));
        iommu_hw_info.flags(s, 0);
        iommu_hw_info.dev_id(s, 0);
        is("ENOENT", raw.ioctl(IOMMU_GET_HW_INFO(), s));
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            old.mockDomainFlags(old.ioas(), 1, true);
            MemorySegment o = old.struct(32); // size 32: out_capabilities neither read nor written
            iommu_hw_info.dev_id(o, old.idev);
            is("OK", old.ioctl(IOMMU_GET_HW_INFO(), o));
            iommu_hw_info.flags(o, 1);
            is("EOPNOTSUPP", old.ioctl(IOMMU_GET_HW_INFO(), o));
        }
    }

    @Test
    void dirtyTracking() { // §4.5, §4.6, enforce_dirty, TEST DIRTY
        raw.mockDomainFlags(ioas, 1, true); // NO_DIRTY device
        is("EOPNOTSUPP", raw.hwptAlloc(DIRTY, raw.idev, ioas, 0, null, 0));
        raw.mockDomain(ioas);
        int dev = raw.idev;
        is("OK", raw.hwptAlloc(DIRTY, dev, ioas, 0, null, 0));
        int h = raw.hwpt;
        is("EINVAL", raw.mockDomainFlags(h, 1, true)); // NO_DIRTY device onto a dirty-tracking HWPT
        MemorySegment m = raw.buffer(8 * PAGE);
        long base = APERTURE;
        is("OK", raw.mapFixed(ioas, m, base));
        is("EINVAL", dirty(h, base, 8 * PAGE, PAGE, 0xff)); // tracking off
        is("OK", setDirty(h, 1));
        is("OK", dirty(h, base, 8 * PAGE, PAGE, 0b101));
        assertEquals(2, raw.length);
        MemorySegment bitmap = raw.buffer(8);
        is("OK", bitmap(h, base, 8 * PAGE, PAGE, bitmap, 1)); // NO_CLEAR
        assertEquals(0b101, bitmap.get(ValueLayout.JAVA_BYTE, 0));
        bitmap.fill((byte) 0);
        is("OK", bitmap(h, base, 8 * PAGE, 2048, bitmap, 0)); // 7.3: both 2 KiB halves of a page leaf
        assertEquals(0b110011, bitmap.get(ValueLayout.JAVA_BYTE, 0));
        bitmap.fill((byte) 0);
        is("OK", bitmap(h, base, 8 * PAGE, PAGE, bitmap, 0));
        assertEquals(0, bitmap.get(ValueLayout.JAVA_BYTE, 0), "cleared by the previous read");
        // checks (§4.6)
        is("EINVAL", bitmap(h, base, 0, PAGE, bitmap, 0));
        is("EOVERFLOW", bitmap(h, -PAGE, 2 * PAGE, PAGE, bitmap, 0));
        is("EINVAL", bitmap(h, base + 1024, PAGE, PAGE, bitmap, 0));
        is("EINVAL", bitmap(h, base, PAGE, 0, bitmap, 0));
        is("EINVAL", bitmap(h, base + 2048, PAGE, PAGE, bitmap, 0));
        is("EOPNOTSUPP", bitmap(h, base, PAGE, PAGE, bitmap, 2));
        is("OK", bitmap(h, base + 64 * PAGE, PAGE, PAGE, bitmap, 0)); // unmapped: the walk's error is dropped
        is("OK", raw.hwptAlloc(0, dev, ioas, 0, null, 0));
        is("EOPNOTSUPP", setDirty(raw.hwpt, 1));
        is("EOPNOTSUPP", bitmap(raw.hwpt, base, PAGE, PAGE, bitmap, 0));
        is("EOPNOTSUPP", setDirty(h, 2));
        is("ENOENT", setDirty(99, 1));
    }

    @Test
    void dirtyCounting612() { // §8 item 12
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            int io = old.ioas();
            old.mockDomain(io);
            old.hwptAlloc(DIRTY, old.idev, io, 0, null, 0);
            int h = old.hwpt;
            MemorySegment m = old.buffer(8 * PAGE);
            is("OK", old.mapFixed(io, m, APERTURE));
            MemorySegment s = old.struct(iommu_hwpt_set_dirty_tracking.sizeof());
            iommu_hwpt_set_dirty_tracking.flags(s, 1);
            iommu_hwpt_set_dirty_tracking.hwpt_id(s, h);
            is("OK", old.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING(), s));
            // page_size 2048: index (iova + i*2048)/2048 is exact; 16 entries, 3 set bits
            is("OK", dirty(old, h, APERTURE, 8 * PAGE, 2048, 0b1000_0000_0000_0101L));
            assertEquals(3, old.length);
            // page_size 4096: the index (iova/4096 + i) is taken in the 2 KiB space -> entries below the mapping
            is("OK", dirty(old, h, APERTURE, 8 * PAGE, PAGE, 0b11));
            assertEquals(0, old.length);
        }
    }

    int setDirty(int hwptId, int flags) {
        MemorySegment s = raw.struct(iommu_hwpt_set_dirty_tracking.sizeof());
        iommu_hwpt_set_dirty_tracking.flags(s, flags);
        iommu_hwpt_set_dirty_tracking.hwpt_id(s, hwptId);
        iommu_hwpt_set_dirty_tracking.__reserved(s, 7); // never checked
        return raw.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING(), s);
    }

    int dirty(int hwptId, long at, long len, long pageSize, long bits) {
        return dirty(raw, hwptId, at, len, pageSize, bits);
    }

    static int dirty(Raw r, int hwptId, long at, long len, long pageSize, long bits) {
        MemorySegment bitmap = r.buffer(8);
        bitmap.set(ValueLayout.JAVA_LONG, 0, bits);
        MemorySegment s = r.test(IOMMU_TEST_OP_DIRTY(), hwptId);
        MemorySegment d = iommu_test_cmd.dirty(s);
        iommu_test_cmd.dirty.iova(d, at);
        iommu_test_cmd.dirty.length(d, len);
        iommu_test_cmd.dirty.page_size(d, pageSize);
        iommu_test_cmd.dirty.uptr(d, bitmap.address());
        int rc = r.ioctl(IOMMU_TEST_CMD(), s);
        r.length = iommu_test_cmd.dirty.out_nr_dirty(d);
        return rc;
    }

    int bitmap(int hwptId, long at, long len, long pageSize, MemorySegment bitmap, int flags) {
        MemorySegment s = raw.struct(iommu_hwpt_get_dirty_bitmap.sizeof());
        iommu_hwpt_get_dirty_bitmap.hwpt_id(s, hwptId);
        iommu_hwpt_get_dirty_bitmap.flags(s, flags);
        iommu_hwpt_get_dirty_bitmap.iova(s, at);
        iommu_hwpt_get_dirty_bitmap.length(s, len);
        iommu_hwpt_get_dirty_bitmap.page_size(s, pageSize);
        iommu_hwpt_get_dirty_bitmap.data(s, bitmap.address());
        return raw.ioctl(IOMMU_HWPT_GET_DIRTY_BITMAP(), s);
    }

    @Test
    void checkMap() { // MD_CHECK_MAP compares by user address
        raw.mockDomain(ioas);
        int h = raw.hwpt;
        MemorySegment m = raw.buffer(4 * PAGE);
        long at = raw.map(ioas, m);
        is("OK", raw.checkMap(h, at, 4 * PAGE, m.address()));
        is("EINVAL", raw.checkMap(h, at, 4 * PAGE, m.address() + PAGE));
        is("EINVAL", raw.checkMap(h, at + 1024, PAGE, m.address()));
        is("EINVAL", raw.checkMap(h, at + 4 * PAGE, PAGE, m.address()));
        is("ENOENT", raw.checkMap(ioas, at, PAGE, m.address()));
        is("ENOENT", raw.checkMap(99, at + 1, PAGE, m.address())); // 7.3: lookup first
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12)) {
            is("EINVAL", old.checkMap(99, at + 1, PAGE, m.address())); // 6.12: alignment first
        }
    }
}
