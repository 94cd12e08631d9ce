package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * Drives a {@link SoftwareBackend} the way a program drives the kernel: raw UAPI structs in
 * native memory, ioctl numbers, {@code -errno} results. Outputs land in the public fields.
 */
final class Raw implements AutoCloseable {
    static final long PAGE = 4096, MB = 1 << 20;
    static final int R = IOMMU_IOAS_MAP_READABLE(), W = IOMMU_IOAS_MAP_WRITEABLE(), RW = R | W;
    static final int FIXED = IOMMU_IOAS_MAP_FIXED_IOVA();
    static final long APERTURE = MOCK_APERTURE_START();

    final SoftwareBackend b;
    final Arena arena = Arena.ofShared();
    /** Outputs of the last call. */
    long iova, length;
    int id, stdev, hwpt, idev, fd;

    Raw() {
        this(SoftwareBackend.Kernel.V7_3);
    }

    Raw(SoftwareBackend.Kernel kernel) {
        b = new SoftwareBackend(kernel);
    }

    @Override
    public void close() {
        b.close();
        arena.close();
    }

    /** Registered native memory, 2 MiB aligned (so automatic IOVAs are predictable). */
    MemorySegment buffer(long size) {
        MemorySegment s = arena.allocate(size, 2 * MB);
        b.registerMemory(s);
        return s;
    }

    MemorySegment struct(long size) {
        MemorySegment s = arena.allocate(Math.max(size, 8), 8);
        s.set(ValueLayout.JAVA_INT, 0, (int) size);
        return s;
    }

    int ioctl(int request, MemorySegment s) {
        return b.ioctl(request, s);
    }

    int destroy(int objectId) {
        MemorySegment s = struct(iommu_destroy.sizeof());
        iommu_destroy.id(s, objectId);
        return ioctl(IOMMU_DESTROY(), s);
    }

    int ioasAlloc() {
        MemorySegment s = struct(iommu_ioas_alloc.sizeof());
        int rc = ioctl(IOMMU_IOAS_ALLOC(), s);
        id = iommu_ioas_alloc.out_ioas_id(s);
        return rc;
    }

    /** A new IOAS (asserting success). */
    int ioas() {
        check(ioasAlloc());
        return id;
    }

    int map(int ioas, int flags, long va, long len, long at) {
        MemorySegment s = struct(iommu_ioas_map.sizeof());
        iommu_ioas_map.flags(s, flags);
        iommu_ioas_map.ioas_id(s, ioas);
        iommu_ioas_map.user_va(s, va);
        iommu_ioas_map.length(s, len);
        iommu_ioas_map.iova(s, at);
        int rc = ioctl(IOMMU_IOAS_MAP(), s);
        iova = iommu_ioas_map.iova(s);
        return rc;
    }

    /** Automatic-IOVA map of a whole segment; returns the IOVA (asserting success). */
    long map(int ioas, MemorySegment m) {
        check(map(ioas, RW, m.address(), m.byteSize(), 0));
        return iova;
    }

    int mapFixed(int ioas, MemorySegment m, long at) {
        return map(ioas, RW | FIXED, m.address(), m.byteSize(), at);
    }

    int unmap(int ioas, long at, long len) {
        MemorySegment s = struct(iommu_ioas_unmap.sizeof());
        iommu_ioas_unmap.ioas_id(s, ioas);
        iommu_ioas_unmap.iova(s, at);
        iommu_ioas_unmap.length(s, len);
        int rc = ioctl(IOMMU_IOAS_UNMAP(), s);
        length = iommu_ioas_unmap.length(s);
        return rc;
    }

    int copy(int dst, int src, int flags, long srcIova, long len, long dstIova) {
        MemorySegment s = struct(iommu_ioas_copy.sizeof());
        iommu_ioas_copy.flags(s, flags);
        iommu_ioas_copy.dst_ioas_id(s, dst);
        iommu_ioas_copy.src_ioas_id(s, src);
        iommu_ioas_copy.length(s, len);
        iommu_ioas_copy.src_iova(s, srcIova);
        iommu_ioas_copy.dst_iova(s, dstIova);
        int rc = ioctl(IOMMU_IOAS_COPY(), s);
        iova = iommu_ioas_copy.dst_iova(s);
        return rc;
    }

    int allow(int ioas, long... startLast) {
        MemorySegment arr = arena.allocate(Math.max(8, startLast.length * 8L), 8);
        for (int i = 0; i < startLast.length; i++) arr.setAtIndex(ValueLayout.JAVA_LONG, i, startLast[i]);
        b.registerMemory(arr);
        MemorySegment s = struct(iommu_ioas_allow_iovas.sizeof());
        iommu_ioas_allow_iovas.ioas_id(s, ioas);
        iommu_ioas_allow_iovas.num_iovas(s, startLast.length / 2);
        iommu_ioas_allow_iovas.allowed_iovas(s, arr.address());
        return ioctl(IOMMU_IOAS_ALLOW_IOVAS(), s);
    }

    /** IOVA_RANGES with room for {@code capacity}; the struct is returned (ranges follow at its allowed_iovas). */
    MemorySegment ranges(int ioas, int capacity, int[] rc) {
        MemorySegment arr = arena.allocate(Math.max(16, capacity * 16L), 8);
        b.registerMemory(arr);
        MemorySegment s = struct(iommu_ioas_iova_ranges.sizeof());
        iommu_ioas_iova_ranges.ioas_id(s, ioas);
        iommu_ioas_iova_ranges.num_iovas(s, capacity);
        iommu_ioas_iova_ranges.allowed_iovas(s, arr.address());
        rc[0] = ioctl(IOMMU_IOAS_IOVA_RANGES(), s);
        return s;
    }

    static MemorySegment rangesArray(MemorySegment s, int n) {
        return MemorySegment.ofAddress(iommu_ioas_iova_ranges.allowed_iovas(s)).reinterpret(n * 16L);
    }

    int option(int option, int op, int objectId, long val) {
        MemorySegment s = struct(iommu_option.sizeof());
        iommu_option.option_id(s, option);
        iommu_option.op(s, (short) op);
        iommu_option.object_id(s, objectId);
        iommu_option.val64(s, val);
        int rc = ioctl(IOMMU_OPTION(), s);
        length = iommu_option.val64(s);
        return rc;
    }

    MemorySegment test(int op, int objectId) {
        MemorySegment s = struct(iommu_test_cmd.sizeof());
        iommu_test_cmd.op(s, op);
        iommu_test_cmd.id(s, objectId);
        return s;
    }

    int mockDomain(int ptId) {
        return mockDomainFlags(ptId, 0, false);
    }

    int mockDomainFlags(int ptId, int devFlags, boolean withFlags) {
        MemorySegment s = test(withFlags ? IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS() : IOMMU_TEST_OP_MOCK_DOMAIN(), ptId);
        MemorySegment m = iommu_test_cmd.mock_domain_flags(s);
        iommu_test_cmd.mock_domain_flags.dev_flags(m, devFlags);
        int rc = ioctl(IOMMU_TEST_CMD(), s);
        stdev = iommu_test_cmd.mock_domain_flags.out_stdev_id(m);
        hwpt = iommu_test_cmd.mock_domain_flags.out_hwpt_id(m);
        idev = iommu_test_cmd.mock_domain_flags.out_idev_id(m);
        return rc;
    }

    int replace(int stdevId, int ptId) {
        MemorySegment s = test(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE(), stdevId);
        iommu_test_cmd.mock_domain_replace.pt_id(iommu_test_cmd.mock_domain_replace(s), ptId);
        int rc = ioctl(IOMMU_TEST_CMD(), s);
        hwpt = iommu_test_cmd.mock_domain_replace.pt_id(iommu_test_cmd.mock_domain_replace(s));
        return rc;
    }

    int addReserved(int ioas, long start, long len) {
        MemorySegment s = test(IOMMU_TEST_OP_ADD_RESERVED(), ioas);
        iommu_test_cmd.add_reserved.start(iommu_test_cmd.add_reserved(s), start);
        iommu_test_cmd.add_reserved.length(iommu_test_cmd.add_reserved(s), len);
        return ioctl(IOMMU_TEST_CMD(), s);
    }

    int hwptAlloc(int flags, int devId, int ptId, int dataType, MemorySegment data, int faultId) {
        MemorySegment s = struct(iommu_hwpt_alloc.sizeof());
        iommu_hwpt_alloc.flags(s, flags);
        iommu_hwpt_alloc.dev_id(s, devId);
        iommu_hwpt_alloc.pt_id(s, ptId);
        iommu_hwpt_alloc.data_type(s, dataType);
        iommu_hwpt_alloc.data_len(s, data == null ? 0 : (int) data.byteSize());
        iommu_hwpt_alloc.data_uptr(s, data == null ? 0 : data.address());
        iommu_hwpt_alloc.fault_id(s, faultId);
        int rc = ioctl(IOMMU_HWPT_ALLOC(), s);
        hwpt = iommu_hwpt_alloc.out_hwpt_id(s);
        return rc;
    }

    /** {@code struct iommu_hwpt_selftest} with this iotlb value, registered. */
    MemorySegment selftestData(int iotlb) {
        MemorySegment d = arena.allocate(iommu_hwpt_selftest.layout());
        iommu_hwpt_selftest.iotlb(d, iotlb);
        b.registerMemory(d);
        return d;
    }

    int faultAlloc() {
        MemorySegment s = struct(iommu_fault_alloc.sizeof());
        int rc = ioctl(IOMMU_FAULT_QUEUE_ALLOC(), s);
        id = iommu_fault_alloc.out_fault_id(s);
        fd = iommu_fault_alloc.out_fault_fd(s);
        return rc;
    }

    int triggerIopf(int devId, int pasid, int grpid, int perm, long addr) {
        MemorySegment s = test(IOMMU_TEST_OP_TRIGGER_IOPF(), 0);
        MemorySegment t = iommu_test_cmd.trigger_iopf(s);
        iommu_test_cmd.trigger_iopf.dev_id(t, devId);
        iommu_test_cmd.trigger_iopf.pasid(t, pasid);
        iommu_test_cmd.trigger_iopf.grpid(t, grpid);
        iommu_test_cmd.trigger_iopf.perm(t, perm);
        iommu_test_cmd.trigger_iopf.addr(t, addr);
        return ioctl(IOMMU_TEST_CMD(), s);
    }

    int createAccess(int ioas, int flags) {
        MemorySegment s = test(IOMMU_TEST_OP_CREATE_ACCESS(), ioas);
        iommu_test_cmd.create_access.flags(iommu_test_cmd.create_access(s), flags);
        int rc = ioctl(IOMMU_TEST_CMD(), s);
        fd = iommu_test_cmd.create_access.out_access_fd(iommu_test_cmd.create_access(s));
        return rc;
    }

    int accessRw(int accessFd, long at, MemorySegment buf, int flags) {
        MemorySegment s = test(IOMMU_TEST_OP_ACCESS_RW(), accessFd);
        MemorySegment a = iommu_test_cmd.access_rw(s);
        iommu_test_cmd.access_rw.iova(a, at);
        iommu_test_cmd.access_rw.length(a, buf.byteSize());
        iommu_test_cmd.access_rw.uptr(a, buf.address());
        iommu_test_cmd.access_rw.flags(a, flags);
        return ioctl(IOMMU_TEST_CMD(), s);
    }

    int accessPages(int accessFd, long at, long len, long uptr, int flags) {
        MemorySegment s = test(IOMMU_TEST_OP_ACCESS_PAGES(), accessFd);
        MemorySegment a = iommu_test_cmd.access_pages(s);
        iommu_test_cmd.access_pages.iova(a, at);
        iommu_test_cmd.access_pages.length(a, len);
        iommu_test_cmd.access_pages.uptr(a, uptr);
        iommu_test_cmd.access_pages.flags(a, flags);
        int rc = ioctl(IOMMU_TEST_CMD(), s);
        id = iommu_test_cmd.access_pages.out_access_pages_id(a);
        return rc;
    }

    int checkMap(int hwptId, long at, long len, long uptr) {
        MemorySegment s = test(IOMMU_TEST_OP_MD_CHECK_MAP(), hwptId);
        MemorySegment m = iommu_test_cmd.check_map(s);
        iommu_test_cmd.check_map.iova(m, at);
        iommu_test_cmd.check_map.length(m, len);
        iommu_test_cmd.check_map.uptr(m, uptr);
        return ioctl(IOMMU_TEST_CMD(), s);
    }

    int checkRefs(long uptr, long len, int refs) {
        MemorySegment s = test(IOMMU_TEST_OP_MD_CHECK_REFS(), 0);
        MemorySegment m = iommu_test_cmd.check_refs(s);
        iommu_test_cmd.check_refs.uptr(m, uptr);
        iommu_test_cmd.check_refs.length(m, len);
        iommu_test_cmd.check_refs.refs(m, refs);
        return ioctl(IOMMU_TEST_CMD(), s);
    }

    static void check(int rc) {
        if (rc != 0) throw new AssertionError("expected success, got " + io.github.iommufd4j.bindings.Errno.name(-rc));
    }

    /** -errno for a symbolic name. */
    static int err(String name) {
        return -io.github.iommufd4j.bindings.Errno.value(name);
    }
}
