package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;
import io.github.iommufd4j.internal.Scratch;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The iommufd mock driver ({@code CONFIG_IOMMUFD_TEST}, IOMMU_TEST_CMD): mock devices, accesses
 * and I/O page faults without hardware. On a kernel without it every call fails with
 * {@link UnsupportedCommandException}; {@link #isPresent()} asks without side effects.
 */
public final class MockDriver {
    /** Mock device flags and constants (iommufd_test.h). */
    public static final int DEVICE_NO_DIRTY = MOCK_FLAGS_DEVICE_NO_DIRTY(), DEVICE_PASID = MOCK_FLAGS_DEVICE_PASID();
    public static final long APERTURE_START = MOCK_APERTURE_START(), APERTURE_LAST = MOCK_APERTURE_LAST();
    public static final int PAGE_SIZE = MOCK_PAGE_SIZE(), HWPT_DATA_SELFTEST = IOMMU_HWPT_DATA_SELFTEST(),
            INVALIDATE_DATA_SELFTEST = IOMMU_HWPT_INVALIDATE_DATA_SELFTEST(), IOTLB_DEFAULT = IOMMU_TEST_IOTLB_DEFAULT();
    /** Linux 7.x mock vIOMMU objects: the types it takes and the device cache it invalidates. */
    public static final int VIOMMU_TYPE_SELFTEST = IOMMU_VIOMMU_TYPE_SELFTEST(),
            VIOMMU_INVALIDATE_DATA_SELFTEST = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST(),
            VEVENTQ_TYPE_SELFTEST = IOMMU_VEVENTQ_TYPE_SELFTEST(), HW_QUEUE_TYPE_SELFTEST = IOMMU_HW_QUEUE_TYPE_SELFTEST(),
            HW_QUEUE_MAX = IOMMU_TEST_HW_QUEUE_MAX(), DEV_CACHE_DEFAULT = IOMMU_TEST_DEV_CACHE_DEFAULT(),
            INVALIDATE_FLAG_ALL = IOMMU_TEST_INVALIDATE_FLAG_ALL();

    private final Iommufd iommufd;

    MockDriver(Iommufd iommufd) {
        this.iommufd = iommufd;
    }

    /** Whether the kernel (or backend) has the mock driver. */
    public boolean isPresent() {
        return iommufd.supports(Command.TEST_CMD);
    }

    /**
     * Whether the mock driver has the PASID ops (PASID_ATTACH ... PASID_CHECK_HWPT, Linux 7.x):
     * asked without side effects (PASID_DETACH of stdev 0 fails with ENOENT where they exist,
     * EOPNOTSUPP where not).
     */
    public boolean supportsPasid() {
        return isPresent() && iommufd.raw().ioctl(Command.TEST_CMD.request(), cmd(IOMMU_TEST_OP_PASID_DETACH(), 0))
                != -Errno.value("EOPNOTSUPP");
    }

    /** Whether the mock driver has the dma-buf ops (DMABUF_GET, DMABUF_REVOKE, Linux 7.x): a revoke of fd -1 fails with EBADF, else EOPNOTSUPP. */
    public boolean supportsDmabuf() {
        if (!isPresent()) return false;
        MemorySegment s = cmd(IOMMU_TEST_OP_DMABUF_REVOKE(), 0);
        s.set(JAVA_INT, U, -1);
        return iommufd.raw().ioctl(Command.TEST_CMD.request(), s) != -Errno.value("EOPNOTSUPP");
    }

    static MemorySegment cmd(int op, int id) {
        MemorySegment s = Scratch.struct(iommu_test_cmd.sizeof());
        iommu_test_cmd.size(s, (int) iommu_test_cmd.sizeof());
        iommu_test_cmd.op(s, op);
        iommu_test_cmd.id(s, id);
        return s;
    }

    /** Offset of the ops' union inside {@code struct iommu_test_cmd}. */
    static final long U = iommu_test_cmd.add_reserved$offset();

    int run(MemorySegment s, String op, String args) throws IommufdException {
        iommufd.enter("IOMMU_TEST_CMD");
        try {
            return iommufd.ioctl(Command.TEST_CMD, s, op + ": " + args);
        } finally {
            iommufd.exit();
        }
    }

    /** MOCK_DOMAIN(_FLAGS): a mock device bound and attached to an IOAS (auto domain) or a HWPT id. */
    public MockDevice addDevice(int ptId, int deviceFlags) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS(), ptId);
        s.set(JAVA_INT, U + 12, deviceFlags);
        run(s, "MOCK_DOMAIN_FLAGS", "pt=" + ptId + ", dev_flags=0x" + Integer.toHexString(deviceFlags));
        var d = new MockDevice(iommufd, s.get(JAVA_INT, U),
                s.get(JAVA_INT, U + 8), s.get(JAVA_INT, U + 4));
        return iommufd.track(d);
    }

    /** A mock device attached to an IOAS (through its auto domain). */
    public MockDevice addDevice(Ioas ioas) throws IommufdException {
        MockDevice d = addDevice(ioas.id(), 0);
        ioas.addDependent(d);
        return d;
    }

    /** A mock device attached to a page table. */
    public MockDevice addDevice(HwPagetable hwpt) throws IommufdException {
        MockDevice d = addDevice(hwpt.id(), 0);
        hwpt.addDependent(d);
        return d;
    }

    /**
     * A mock device whose I/O page faults go to {@code faults}: added on {@code ioas}, then moved
     * to a nested, IOPF-capable page table (selftest data) over a NEST_PARENT one on the IOAS.
     * The setup the kernel selftest uses for the fault object; works on 6.12 and 7.x.
     */
    public MockDevice addFaultingDevice(Ioas ioas, FaultQueue faults) throws IommufdException {
        MockDevice dev = addDevice(ioas);
        HwPagetable parent = iommufd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            HwPagetable iopf = iommufd.allocNestedHwpt(dev.deviceId(), parent, HWPT_DATA_SELFTEST, selftestData(arena, 0), faults);
            dev.replace(iopf.id());
            iopf.addDependent(dev);
        }
        return dev;
    }

    /** ADD_RESERVED: reserves {@code [start, start+length)} in the IOAS (never allocated, never mapped). */
    public void addReserved(Ioas ioas, long start, long length) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_ADD_RESERVED(), ioas.id());
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U, start);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 8, length);
        run(s, "ADD_RESERVED", "ioas=" + ioas.id() + ", start=" + Ioas.hex(start) + ", length=" + Ioas.hex(length));
    }

    /** MD_CHECK_MAP: checks that {@code [iova, +memory.size)} of a mock page table maps exactly {@code memory}. */
    public void checkMap(int hwptId, long iova, MemorySegment memory) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_MD_CHECK_MAP(), hwptId);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U, iova);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 8, memory.byteSize());
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 16, memory.address());
        iommufd.raw().registerMemory(memory);
        try {
            run(s, "MD_CHECK_MAP", "hwpt=" + hwptId + ", iova=" + Ioas.hex(iova) + ", length=" + Ioas.hex(memory.byteSize()));
        } finally {
            iommufd.raw().unregisterMemory(memory);
        }
    }

    /** MD_CHECK_REFS: checks that each page of {@code memory} is pinned {@code refs} times. */
    public void checkRefs(MemorySegment memory, int refs) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_MD_CHECK_REFS(), 0);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U, memory.byteSize());
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 8, memory.address());
        s.set(JAVA_INT, U + 16, refs);
        iommufd.raw().registerMemory(memory);
        try {
            run(s, "MD_CHECK_REFS", "length=" + Ioas.hex(memory.byteSize()) + ", refs=" + refs);
        } finally {
            iommufd.raw().unregisterMemory(memory);
        }
    }

    /** CREATE_ACCESS: an in-kernel user of the IOAS (like an emulated device's DMA). */
    public MockAccess createAccess(Ioas ioas, boolean needsPinPages) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_CREATE_ACCESS(), ioas.id());
        s.set(JAVA_INT, U + 4, needsPinPages ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES() : 0);
        run(s, "CREATE_ACCESS", "ioas=" + ioas.id());
        MockAccess a = new MockAccess(iommufd, this, s.get(JAVA_INT, U));
        ioas.addDependent(a);
        return iommufd.track(a);
    }

    /** SET_TEMP_MEMORY_LIMIT: the kernel's internal batch size (global, for tests). */
    public void setTempMemoryLimit(int limit) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT(), 0);
        s.set(JAVA_INT, U, limit);
        run(s, "SET_TEMP_MEMORY_LIMIT", "limit=" + limit);
    }

    /** DIRTY: marks pages of a dirty-tracking mock page table dirty per set bit of {@code bitmap}; returns how many. */
    public long markDirty(int hwptId, long iova, long length, long pageSize, MemorySegment bitmap) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_DIRTY(), hwptId);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 8, iova);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 16, length);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 24, pageSize);
        s.set(java.lang.foreign.ValueLayout.JAVA_LONG, U + 32, bitmap.address());
        iommufd.raw().registerMemory(bitmap);
        try {
            run(s, "DIRTY", "hwpt=" + hwptId + ", iova=" + Ioas.hex(iova) + ", length=" + Ioas.hex(length));
        } finally {
            iommufd.raw().unregisterMemory(bitmap);
        }
        return s.get(java.lang.foreign.ValueLayout.JAVA_LONG, U + 40);
    }

    /** MD_CHECK_IOTLB: checks slot {@code slot} of a mock nested page table's IOTLB holds {@code value}. */
    public void checkIotlb(int hwptId, int slot, int value) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_MD_CHECK_IOTLB(), hwptId);
        s.set(JAVA_INT, U, slot);
        s.set(JAVA_INT, U + 4, value);
        run(s, "MD_CHECK_IOTLB", "hwpt=" + hwptId + ", slot=" + slot + ", value=0x" + Integer.toHexString(value));
    }

    /**
     * DMABUF_GET (Linux 7.x): a new mock dma-buf of {@code length} bytes (a u32) rounded up to the
     * page size (1 to 512 pages, else EINVAL), zero-filled, its fd close-on-exec. The kernel installs
     * the fd but returns 0 rather than the fd number, so the new fd is found in
     * {@code /proc/self/fd}: a dma-buf made concurrently by another thread could be taken for it.
     */
    public MockDmabuf createDmabuf(long length) throws IommufdException {
        if (length < 0 || length > 0xffff_ffffL) throw new IllegalArgumentException("length " + length + " does not fit the u32 field");
        MemorySegment s = cmd(IOMMU_TEST_OP_DMABUF_GET(), 0);
        s.set(JAVA_INT, U, (int) length);
        s.set(JAVA_INT, U + 4, Libc.O_CLOEXEC);
        java.util.Map<Integer, String> before = dmabufFds();
        int rc = run(s, "DMABUF_GET", "length=" + Ioas.hex(length));
        int fd = rc > 0 ? rc : newDmabufFd(before);
        return new MockDmabuf(this, fd, (length + 4095) & -4096L);
    }

    /** DMABUF_REVOKE (Linux 7.x) on any fd: EBADF for a closed one, EINVAL for a file that is no dma-buf. */
    public void revokeDmabuf(int dmabufFd, boolean revoked) throws IommufdException {
        MemorySegment s = cmd(IOMMU_TEST_OP_DMABUF_REVOKE(), 0);
        s.set(JAVA_INT, U, dmabufFd);
        s.set(JAVA_INT, U + 4, revoked ? 1 : 0);
        run(s, "DMABUF_REVOKE", "fd=" + dmabufFd + ", revoked=" + revoked);
    }

    /** The open fds that are dma-bufs (the kernel's, or the software backend's mock ones), with their link targets. */
    private static java.util.Map<Integer, String> dmabufFds() {
        java.util.Map<Integer, String> out = new java.util.TreeMap<>();
        try (var dir = java.nio.file.Files.newDirectoryStream(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path p : dir) {
                String target;
                try {
                    target = java.nio.file.Files.readSymbolicLink(p).toString();
                } catch (java.io.IOException gone) {
                    continue;
                }
                if (target.startsWith("/dmabuf:")
                        || target.startsWith(io.github.iommufd4j.internal.software.SoftwareBackend.MOCK_DMABUF_LINK_PREFIX)) {
                    out.put(Integer.parseInt(p.getFileName().toString()), target);
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    /** The lowest dma-buf fd that was not open (as that dma-buf) before: the kernel takes the lowest free fd. */
    private static int newDmabufFd(java.util.Map<Integer, String> before) {
        for (var e : dmabufFds().entrySet()) {
            if (!e.getValue().equals(before.get(e.getKey()))) return e.getKey();
        }
        throw new IllegalStateException("DMABUF_GET succeeded but no new dma-buf fd is open");
    }

    /**
     * The selftest HWPT data ({@code struct iommu_hwpt_selftest}): every IOTLB slot starts at
     * {@code iotlb}. Only its first field (4 bytes): 6.12's struct has nothing else and its mock
     * refuses a longer one with EINVAL, while 7.3 zero-fills the rest (pagetable_type DEFAULT).
     */
    public static MemorySegment selftestData(java.lang.foreign.Arena arena, int iotlb) {
        MemorySegment d = arena.allocate(JAVA_INT);
        io.github.iommufd4j.bindings.uapi.iommu_hwpt_selftest.iotlb(d, iotlb);
        return d;
    }

    /**
     * The mock vIOMMU's data ({@code struct iommu_viommu_selftest}): the kernel copies
     * {@code inData} to {@code out_data} and to the first word of an mmap-able region and writes
     * back the region's offset and length.
     */
    public static MemorySegment viommuData(java.lang.foreign.Arena arena, int inData) {
        MemorySegment d = arena.allocate(io.github.iommufd4j.bindings.uapi.iommu_viommu_selftest.layout());
        io.github.iommufd4j.bindings.uapi.iommu_viommu_selftest.in_data(d, inData);
        return d;
    }

    /** One mock vIOMMU invalidation entry ({@code struct iommu_viommu_invalidate_selftest}, 12 bytes) at index i. */
    public static void viommuInvalidation(MemorySegment entries, int i, int flags, int vdevId, int cacheId) {
        MemorySegment e = entries.asSlice(i * 12L, 12);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.flags(e, flags);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.vdev_id(e, vdevId);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.cache_id(e, cacheId);
    }
}
