package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * §1 (dispatcher), §2.1/§2.3 (IDs, DESTROY) and §3.7/§3.8 (OPTION, VFIO_IOAS).
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
class DispatcherTest {
    final Raw raw = new Raw();

    @AfterEach
    void close() {
        raw.close();
    }

    static void is(String errno, long rc) {
        is(errno, rc, "");
    }

    static void is(String errno, long rc, String why) {
        assertEquals(errno, rc == 0 ? "OK" : rc > 0 ? "+" + rc : Errno.name((int) -rc), why);
    }

    /** {request, min_size, sizeof} of every 6.12 command (§1.3). */
    static final int[][] SIZES = {
        {IOMMU_DESTROY(), 8, 8}, {IOMMU_IOAS_ALLOC(), 12, 12}, {IOMMU_IOAS_ALLOW_IOVAS(), 24, 24},
        {IOMMU_IOAS_COPY(), 40, 40}, {IOMMU_IOAS_IOVA_RANGES(), 32, 32}, {IOMMU_IOAS_MAP(), 40, 40},
        {IOMMU_IOAS_UNMAP(), 24, 24}, {IOMMU_OPTION(), 24, 24}, {IOMMU_VFIO_IOAS(), 12, 12},
        {IOMMU_HWPT_ALLOC(), 24, 48}, {IOMMU_GET_HW_INFO(), 32, 40}, {IOMMU_HWPT_SET_DIRTY_TRACKING(), 16, 16},
        {IOMMU_HWPT_GET_DIRTY_BITMAP(), 48, 48}, {IOMMU_HWPT_INVALIDATE(), 32, 32},
        {IOMMU_FAULT_QUEUE_ALLOC(), 16, 16}, {IOMMU_TEST_CMD(), 68, 72},
    };

    @Test
    void cmdFail() { // iommufd.cmd_fail
        is("ENOENT", raw.destroy(0));
        is("EFAULT", raw.b.ioctl(IOMMU_DESTROY(), MemorySegment.NULL));
        is("ENOTTY", raw.b.ioctl(0x3b7f, raw.struct(8)));
    }

    @Test
    void cmdLength() { // iommufd.cmd_length
        for (int[] c : SIZES) {
            MemorySegment s = raw.struct(c[2] + 8);
            s.set(ValueLayout.JAVA_INT, 0, c[1] - 1);
            assertEquals("EINVAL", Errno.name(-raw.ioctl(c[0], s)), "min-1 of " + Integer.toHexString(c[0]));
            s.set(ValueLayout.JAVA_INT, 0, c[2] + 1);
            s.set(ValueLayout.JAVA_BYTE, c[2], (byte) 0xaa);
            assertEquals("E2BIG", Errno.name(-raw.ioctl(c[0], s)), "sizeof+1 of " + Integer.toHexString(c[0]));
        }
    }

    @Test
    void cmdExFail() { // iommufd.cmd_ex_fail
        MemorySegment s = raw.struct(16);
        s.set(ValueLayout.JAVA_INT, 0, 16);
        is("ENOENT", raw.ioctl(IOMMU_DESTROY(), s)); // zero tail
        s.set(ValueLayout.JAVA_LONG, 8, -1);
        is("E2BIG", raw.ioctl(IOMMU_DESTROY(), s));
        s.set(ValueLayout.JAVA_INT, 0, 7);
        is("EINVAL", raw.ioctl(IOMMU_DESTROY(), s));
    }

    @Test
    void orderOfChecks() {
        is("EFAULT", raw.b.ioctl(0x3b9f, MemorySegment.NULL)); // empty slot, bad pointer: EFAULT first
        is("ENOTTY", raw.b.ioctl(0x3b9f, raw.struct(8)));
        is("ENOTTY", raw.b.ioctl(0xc0003b80L, raw.struct(8))); // _IOWR bits on DESTROY's nr
        is("OK", raw.b.ioctl(0x3b64, MemorySegment.NULL)); // VFIO compat range: VFIO_GET_API_VERSION is 0
        is("ENOTTY", raw.b.ioctl(0x3b75, raw.struct(8))); // VFIO_IOMMU_DIRTY_PAGES is not answered
        MemorySegment tooShortSegment = raw.struct(8);
        tooShortSegment.set(ValueLayout.JAVA_INT, 0, 16);
        is("EFAULT", raw.ioctl(IOMMU_DESTROY(), tooShortSegment.asSlice(0, 8))); // unreadable tail
    }

    @Test
    void commandsOf73AreInThe73TableOnly() {
        try (Raw old = new Raw(SoftwareBackend.Kernel.V6_12); Raw r = new Raw(SoftwareBackend.Kernel.V7_3)) {
            for (int nr = 0x8f; nr <= 0x95; nr++) {
                is("ENOTTY", old.ioctl(0x3b00 | nr, old.struct(64)));
                is("EINVAL", r.ioctl(0x3b00 | nr, r.struct(0))); // present: the size check answers
            }
        }
    }

    @Test
    void zeroSizeProbesCommandPresence() { // what Iommufd.supports() relies on
        is("EINVAL", raw.ioctl(IOMMU_TEST_CMD(), raw.struct(0)));
        is("EINVAL", raw.ioctl(IOMMU_IOAS_MAP(), raw.struct(0)));
    }

    @Test
    void idsAreLowestFreeAndReused() {
        int a = raw.ioas(), b = raw.ioas(), c = raw.ioas();
        assertEquals(1, a);
        assertEquals(3, c);
        is("OK", raw.destroy(b));
        assertEquals(b, raw.ioas());
        is("OK", raw.destroy(a));
        is("ENOENT", raw.destroy(a));
        assertEquals(a, raw.ioas());
    }

    @Test
    void shortStructIsZeroFilledAndWrittenBackShort() {
        int ioas = raw.ioas();
        int dev;
        raw.mockDomain(ioas);
        dev = raw.idev;
        MemorySegment s = raw.struct(48);
        iommu_hwpt_alloc.dev_id(s, dev);
        iommu_hwpt_alloc.pt_id(s, ioas);
        iommu_hwpt_alloc.data_type(s, 0xdead); // beyond size 24: must be ignored (zero-filled)
        iommu_hwpt_alloc.size(s, 24);
        is("OK", raw.ioctl(IOMMU_HWPT_ALLOC(), s));
        assertEquals(0xdead, iommu_hwpt_alloc.data_type(s)); // not written back beyond size
    }

    @Test
    void optionWritesBackOnlyVal64() { // iommufd.global_options, ioas_option_huge_pages
        is("ENOENT", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_GET(), 0, 0));
        is("ENOENT", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), 0, 0));
        is("ENOENT", raw.option(IOMMU_OPTION_HUGE_PAGES(), 7, 0, 0)); // lookup before op
        int ioas = raw.ioas();
        is("OK", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_GET(), ioas, 5));
        assertEquals(1, raw.length);
        is("EINVAL", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), ioas, 2));
        is("EOPNOTSUPP", raw.option(IOMMU_OPTION_HUGE_PAGES(), 7, ioas, 0));
        is("OK", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_SET(), ioas, 0));
        is("OK", raw.option(IOMMU_OPTION_HUGE_PAGES(), IOMMU_OPTION_OP_GET(), ioas, 5));
        assertEquals(0, raw.length);
        is("EOPNOTSUPP", raw.option(9, IOMMU_OPTION_OP_GET(), 0, 0));
        is("EOPNOTSUPP", raw.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_GET(), 1, 0));
        is("OK", raw.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_GET(), 0, 9));
        assertEquals(0, raw.length);
        MemorySegment s = raw.struct(iommu_option.sizeof());
        iommu_option.option_id(s, IOMMU_OPTION_RLIMIT_MODE());
        iommu_option.op(s, (short) IOMMU_OPTION_OP_GET());
        iommu_option.__reserved(s, (short) 1);
        is("EOPNOTSUPP", raw.ioctl(IOMMU_OPTION(), s));
    }

    @Test
    void rlimitModeSet() {
        boolean root = io.github.iommufd4j.bindings.Libc.syscall(107, 0, 0, 0, 0, 0, 0) == 0;
        try (Raw fresh = new Raw()) {
            if (!root) {
                is("EPERM", fresh.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_SET(), 0, 1));
                return;
            }
            is("EINVAL", fresh.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_SET(), 0, 2));
            is("OK", fresh.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_SET(), 0, 1));
            is("OK", fresh.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_GET(), 0, 0));
            assertEquals(1, fresh.length);
            fresh.ioas();
            is("EBUSY", fresh.option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_SET(), 0, 0));
        }
    }

    @Test
    void vfioIoas() { // iommufd.vfio_ioas
        MemorySegment s = raw.struct(iommu_vfio_ioas.sizeof());
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_GET());
        is("ENODEV", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_SET());
        is("ENOENT", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        int ioas = raw.ioas();
        iommu_vfio_ioas.ioas_id(s, ioas);
        is("OK", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_GET());
        iommu_vfio_ioas.ioas_id(s, 0);
        is("OK", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        assertEquals(ioas, iommu_vfio_ioas.ioas_id(s));
        iommu_vfio_ioas.op(s, (short) 3);
        is("EOPNOTSUPP", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        is("OK", raw.destroy(ioas)); // no reference taken; the compat pointer is cleared
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_GET());
        is("ENODEV", raw.ioctl(IOMMU_VFIO_IOAS(), s));
        iommu_vfio_ioas.op(s, (short) IOMMU_VFIO_IOAS_CLEAR());
        is("OK", raw.ioctl(IOMMU_VFIO_IOAS(), s));
    }

    @Test
    void closeIsIdempotentAndEndsTheFd() {
        raw.ioas();
        raw.b.close();
        raw.b.close();
        is("EBADF", raw.destroy(1));
    }
}
