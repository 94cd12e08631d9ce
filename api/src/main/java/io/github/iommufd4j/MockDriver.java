package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;
import java.lang.foreign.Arena;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The iommufd mock driver ({@code CONFIG_IOMMUFD_TEST}, IOMMU_TEST_CMD): mock devices, in-kernel
 * accesses, I/O page faults, virtual events and dma-bufs without hardware, so that a VMM's
 * iommufd code can be tested in CI, on the software backend (always present) or in a guest with
 * a test kernel. On a kernel without it every call fails with {@link UnsupportedCommandException};
 * {@link #isPresent()} asks without side effects. Production kernels do not have it.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=mock}
 *
 * <p>The mock IOMMU translates IOVAs in {@code [APERTURE_START, APERTURE_LAST]} only (attaching a
 * mock device reserves the rest of the IOAS) with {@link #PAGE_SIZE} pages. Devices and
 * accesses made here are handles of the iommufd ({@link MockDevice}, {@link MockAccess}),
 * closed with it; a {@link MockDmabuf} belongs to the process. Obtained from
 * {@link Iommufd#mock()}.
 */
public final class MockDriver {
    /**
     * Device flags of {@link #addDevice(int, int)}: {@code DEVICE_NO_DIRTY}, a device whose IOMMU
     * cannot track dirty pages; {@code DEVICE_PASID} (Linux 7.x), a device with PASIDs (20 bits).
     */
    public static final int DEVICE_NO_DIRTY = MOCK_FLAGS_DEVICE_NO_DIRTY(), DEVICE_PASID = MOCK_FLAGS_DEVICE_PASID();
    /**
     * The mock IOMMU's aperture, inclusive: {@code [0x1000000, 0x7fffffff]}. IOVAs outside it are
     * reserved once a mock device is attached.
     */
    public static final long APERTURE_START = MOCK_APERTURE_START(), APERTURE_LAST = MOCK_APERTURE_LAST();
    /**
     * {@code PAGE_SIZE}: the mock IOMMU's page size in bytes (2048). {@code HWPT_DATA_SELFTEST}: the
     * data type of its nested page tables ({@link #selftestData}). {@code INVALIDATE_DATA_SELFTEST}:
     * the data type of their IOTLB invalidations ({@link HwPagetable#invalidate}, 8-byte entries
     * {@code {flags, iotlb_id}}). {@code IOTLB_DEFAULT}: the value the selftest puts in the 4 IOTLB
     * slots.
     */
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

    /**
     * Whether the kernel (or backend) has the mock driver.
     *
     * @return true on the software backend and on kernels built with {@code CONFIG_IOMMUFD_TEST}
     * @throws IllegalStateException if the iommufd is closed
     */
    public boolean isPresent() {
        return iommufd.supports(Command.TEST_CMD);
    }

    /**
     * Whether the mock driver has the PASID ops (PASID_ATTACH ... PASID_CHECK_HWPT, Linux 7.x),
     * asked without side effects (PASID_DETACH of stdev 0 fails with ENOENT where they exist,
     * EOPNOTSUPP where not).
     *
     * @return true where {@link MockDevice#attachPasid} and its siblings work
     * @throws IllegalStateException if the iommufd is closed
     */
    public boolean supportsPasid() {
        return isPresent() && probe(IOMMU_TEST_OP_PASID_DETACH(), 0) != -EOPNOTSUPP;
    }

    /**
     * Whether the mock driver has the dma-buf ops (DMABUF_GET, DMABUF_REVOKE, Linux 7.x), asked
     * without side effects (a revoke of fd -1 fails with EBADF where they exist, else EOPNOTSUPP).
     *
     * @return true where {@link #createDmabuf(long)} works
     * @throws IllegalStateException if the iommufd is closed
     */
    public boolean supportsDmabuf() {
        return isPresent() && probe(IOMMU_TEST_OP_DMABUF_REVOKE(), -1) != -EOPNOTSUPP;
    }

    private static final int EOPNOTSUPP = Errno.value("EOPNOTSUPP");

    /** A test op with {@code first} as the first word of its union: the raw result. */
    private int probe(int op, int first) {
        try (KernelCall k = KernelCall.begin(iommufd, "IOMMU_TEST_CMD")) {
            MemorySegment s = cmd(k, op, 0);
            s.set(JAVA_INT, U, first);
            return k.rawIoctl(Command.TEST_CMD.request(), s);
        } catch (IommufdException closed) {
            throw new IllegalStateException("the iommufd is closed", closed);
        }
    }

    /** This call's {@code struct iommu_test_cmd} for {@code op} on object {@code id}. */
    static MemorySegment cmd(KernelCall k, int op, int id) {
        MemorySegment s = k.struct(iommu_test_cmd.sizeof());
        iommu_test_cmd.op(s, op);
        iommu_test_cmd.id(s, id);
        return s;
    }

    /** Offset of the ops' union inside {@code struct iommu_test_cmd}. */
    static final long U = iommu_test_cmd.add_reserved$offset();

    /** Issues the test command in {@code k}'s struct; a failure names the op and its arguments. */
    static int run(KernelCall k, String op, KernelCall.Args args) throws IommufdException {
        return k.ioctl(Command.TEST_CMD, x -> op + ": " + args.of(x));
    }

    /** A call on the iommufd for a test op. */
    private KernelCall call() throws IommufdException {
        return KernelCall.begin(iommufd, "IOMMU_TEST_CMD");
    }

    /**
     * MOCK_DOMAIN_FLAGS: a mock device, bound to the iommufd and attached to an IOAS (through an
     * auto domain) or a page table, as a VFIO device would be after bind and attach.
     *
     * @param ptId        the id of an IOAS or page table
     * @param deviceFlags {@link #DEVICE_NO_DIRTY}, {@link #DEVICE_PASID} or 0
     * @return the device, owned by the iommufd
     * @throws IommufdException ENOENT for an unknown id, EINVAL for bad flags or a dirty-tracking table
     *         with NO_DIRTY, EADDRINUSE when a mapping lies outside the mock aperture
     */
    public MockDevice addDevice(int ptId, int deviceFlags) throws IommufdException {
        return addDevice(null, ptId, deviceFlags);
    }

    /**
     * A mock device attached to an IOAS (through its auto domain); closed before the IOAS.
     *
     * @param ioas the address space
     * @return the device
     * @throws IommufdException EADDRINUSE when a mapping lies outside the mock aperture
     */
    public MockDevice addDevice(Ioas ioas) throws IommufdException {
        return addDevice(ioas, ioas.id(), 0);
    }

    /**
     * A mock device attached to a page table; closed before it.
     *
     * @param hwpt the page table
     * @return the device
     * @throws IommufdException EINVAL when the table tracks dirty pages and the device cannot, ENOENT
     *         for a nested table of a vIOMMU without a vDEVICE for it
     */
    public MockDevice addDevice(HwPagetable hwpt) throws IommufdException {
        return addDevice(hwpt, hwpt.id(), 0);
    }

    private MockDevice addDevice(Handle on, int ptId, int deviceFlags) throws IommufdException {
        try (KernelCall k = call()) {
            if (on != null) k.hold(on);
            MemorySegment s = cmd(k, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS(), ptId);
            s.set(JAVA_INT, U + 12, deviceFlags);
            run(k, "MOCK_DOMAIN_FLAGS", x -> "pt=" + iommu_test_cmd.id(x) + ", dev_flags=0x" + Integer.toHexString(x.get(JAVA_INT, U + 12)));
            MockDevice d = new MockDevice(iommufd, s.get(JAVA_INT, U), s.get(JAVA_INT, U + 8), s.get(JAVA_INT, U + 4));
            if (on != null) on.addDependent(d);
            return iommufd.track(d);
        }
    }

    /**
     * A mock device whose I/O page faults go to {@code faults}: added on {@code ioas}, then moved
     * to a nested, IOPF-capable page table (selftest data) over a NEST_PARENT one on the IOAS. The
     * setup the kernel selftest uses for the fault object; works on Linux 6.12 and 7.x. Fire faults
     * with {@link MockDevice#triggerPageFault}.
     *
     * @param ioas   the address space
     * @param faults the queue that receives the device's faults
     * @return the device, closed before its page tables, the IOAS and the queue
     * @throws IommufdException as {@link #addDevice(Ioas)} and
     *         {@link Iommufd#allocNestedHwpt(int, HwPagetable, int, MemorySegment, FaultQueue, HwptFlag...)}
     */
    public MockDevice addFaultingDevice(Ioas ioas, FaultQueue faults) throws IommufdException {
        MockDevice dev = addDevice(ioas);
        HwPagetable parent = iommufd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        try (Arena arena = Arena.ofConfined()) {
            HwPagetable iopf = iommufd.allocNestedHwpt(dev.deviceId(), parent, HWPT_DATA_SELFTEST, selftestData(arena, 0), faults);
            dev.replace(iopf.id());
            iopf.addDependent(dev);
        }
        return dev;
    }

    /**
     * ADD_RESERVED: reserves {@code [start, start+length)} in the IOAS (never allocated, never
     * mapped), as an IOMMU's reserved region (e.g. the MSI window) would.
     *
     * @param ioas   the address space
     * @param start  the first IOVA
     * @param length bytes, not 0
     * @throws IommufdException EINVAL for length 0, EOVERFLOW when the range wraps, EADDRINUSE when it
     *         intersects a mapping or an allowed range
     */
    public void addReserved(Ioas ioas, long start, long length) throws IommufdException {
        try (KernelCall k = call().hold(ioas)) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_ADD_RESERVED(), ioas.id());
            s.set(JAVA_LONG, U, start);
            s.set(JAVA_LONG, U + 8, length);
            run(k, "ADD_RESERVED", x -> "ioas=" + iommu_test_cmd.id(x) + ", start=" + Ioas.hex(x.get(JAVA_LONG, U))
                    + ", length=" + Ioas.hex(x.get(JAVA_LONG, U + 8)));
        }
    }

    /**
     * MD_CHECK_MAP: checks that {@code [iova, iova+memory.byteSize())} of a mock page table maps
     * exactly {@code memory}, page by page.
     *
     * @param hwptId a mock paging table ({@link MockDevice#hwptId()})
     * @param iova   the first IOVA, aligned to {@link #PAGE_SIZE}
     * @param memory native memory the kernel reads, aligned to {@link #PAGE_SIZE}
     * @throws IommufdException EINVAL when a page is not mapped there or maps other memory (or on
     *         misalignment), ENOENT for an unknown table
     */
    public void checkMap(int hwptId, long iova, MemorySegment memory) throws IommufdException {
        java.util.Objects.requireNonNull(memory, "MD_CHECK_MAP: memory");
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_MD_CHECK_MAP(), hwptId);
            s.set(JAVA_LONG, U, iova);
            s.set(JAVA_LONG, U + 16, k.kernelReads(memory, memory.byteSize(), "memory"));
            s.set(JAVA_LONG, U + 8, memory.byteSize());
            run(k, "MD_CHECK_MAP", x -> "hwpt=" + iommu_test_cmd.id(x) + ", iova=" + Ioas.hex(x.get(JAVA_LONG, U))
                    + ", length=" + Ioas.hex(x.get(JAVA_LONG, U + 8)));
        }
    }

    /**
     * MD_CHECK_REFS: checks that each page of {@code memory} is pinned {@code refs} times.
     *
     * @param memory native, page aligned memory
     * @param refs   the expected pin count per page
     * @throws IommufdException EIO on a mismatch, EINVAL for unaligned memory
     */
    public void checkRefs(MemorySegment memory, int refs) throws IommufdException {
        java.util.Objects.requireNonNull(memory, "MD_CHECK_REFS: memory");
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_MD_CHECK_REFS(), 0);
            s.set(JAVA_LONG, U + 8, k.kernelReads(memory, memory.byteSize(), "memory"));
            s.set(JAVA_LONG, U, memory.byteSize());
            s.set(JAVA_INT, U + 16, refs);
            run(k, "MD_CHECK_REFS", x -> "length=" + Ioas.hex(x.get(JAVA_LONG, U)) + ", refs=" + x.get(JAVA_INT, U + 16));
        }
    }

    /**
     * CREATE_ACCESS: an in-kernel user of the IOAS, like an emulated device's DMA (or a mediated
     * device's) that reads and writes guest memory by IOVA.
     *
     * @param ioas          the address space it uses
     * @param needsPinPages true if it will pin pages ({@link MockAccess#pin}); raises the IOAS
     *                      alignment to the CPU page size
     * @return the access, owning its fd, closed before the IOAS
     * @throws IommufdException EADDRINUSE when raising the alignment conflicts with a mapping
     */
    public MockAccess createAccess(Ioas ioas, boolean needsPinPages) throws IommufdException {
        try (KernelCall k = call().hold(ioas)) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_CREATE_ACCESS(), ioas.id());
            s.set(JAVA_INT, U + 4, needsPinPages ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES() : 0);
            run(k, "CREATE_ACCESS", x -> "ioas=" + iommu_test_cmd.id(x));
            MockAccess a = new MockAccess(iommufd, s.get(JAVA_INT, U));
            ioas.addDependent(a);
            return iommufd.track(a);
        }
    }

    /**
     * SET_TEMP_MEMORY_LIMIT: the kernel's internal batch buffer size, global to the kernel (not to
     * this iommufd); for tests of the kernel's batching, with no visible effect otherwise.
     *
     * @param limit bytes, at least 12 (the kernel's default is 65536)
     * @throws IommufdException EINVAL below 12
     */
    public void setTempMemoryLimit(int limit) throws IommufdException {
        try (KernelCall k = call()) {
            cmd(k, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT(), 0).set(JAVA_INT, U, limit);
            run(k, "SET_TEMP_MEMORY_LIMIT", x -> "limit=" + x.get(JAVA_INT, U));
        }
    }

    /**
     * DIRTY: marks pages of a dirty-tracking mock page table dirty, one per set bit of
     * {@code bitmap}, as a device writing them would.
     *
     * @param hwptId   a paging table made with {@link HwptFlag#DIRTY_TRACKING}, tracking enabled
     * @param iova     the first IOVA
     * @param length   bytes
     * @param pageSize bytes per bitmap bit
     * @param bitmap   native memory of at least {@code ceil(length / pageSize / 8)} bytes, which the
     *                 kernel reads
     * @return how many pages were marked (7.x counts every set bit)
     * @throws IommufdException EINVAL when tracking is off or the range is bad
     */
    public long markDirty(int hwptId, long iova, long length, long pageSize, MemorySegment bitmap) throws IommufdException {
        long pages = pageSize == 0 ? 0 : Long.divideUnsigned(length, pageSize);
        long bytes = Long.compareUnsigned(pages, 1L << 27) > 0 ? 0 : (pages + 7) / 8; // more pages: EOVERFLOW first
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_DIRTY(), hwptId);
            s.set(JAVA_LONG, U + 8, iova);
            s.set(JAVA_LONG, U + 16, length);
            s.set(JAVA_LONG, U + 24, pageSize);
            s.set(JAVA_LONG, U + 32, k.kernelReads(bitmap, bytes, "bitmap"));
            run(k, "DIRTY", x -> "hwpt=" + iommu_test_cmd.id(x) + ", iova=" + Ioas.hex(x.get(JAVA_LONG, U + 8))
                    + ", length=" + Ioas.hex(x.get(JAVA_LONG, U + 16)));
            return s.get(JAVA_LONG, U + 40);
        }
    }

    /**
     * MD_CHECK_IOTLB: checks that IOTLB slot {@code slot} of a mock nested page table holds
     * {@code value} (slots are set at allocation and cleared by invalidation).
     *
     * @param hwptId a mock nested page table
     * @param slot   0 to 3
     * @param value  the expected value
     * @throws IommufdException EINVAL on a mismatch or a slot above 3, ENOENT for an unknown table
     */
    public void checkIotlb(int hwptId, int slot, int value) throws IommufdException {
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_MD_CHECK_IOTLB(), hwptId);
            s.set(JAVA_INT, U, slot);
            s.set(JAVA_INT, U + 4, value);
            run(k, "MD_CHECK_IOTLB", x -> "hwpt=" + iommu_test_cmd.id(x) + ", slot=" + x.get(JAVA_INT, U)
                    + ", value=0x" + Integer.toHexString(x.get(JAVA_INT, U + 4)));
        }
    }

    /**
     * DMABUF_GET (Linux 7.x): a new mock dma-buf of {@code length} bytes rounded up to the page size
     * (1 to 512 pages), zero-filled, its fd close-on-exec. The kernel installs the fd but returns 0
     * rather than the fd number, so the new fd is found in {@code /proc/self/fd}: a dma-buf made
     * concurrently by another thread could be taken for it.
     *
     * @param length bytes (a u32)
     * @return the dma-buf, owning its fd; it outlives the iommufd
     * @throws IommufdException EINVAL for 0 or more than 512 pages, EOPNOTSUPP before Linux 7.x
     * @throws IllegalArgumentException when {@code length} does not fit in 32 bits
     */
    public MockDmabuf createDmabuf(long length) throws IommufdException {
        if (length < 0 || length > 0xffff_ffffL) throw new IllegalArgumentException("length " + length + " does not fit the u32 field");
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_DMABUF_GET(), 0);
            s.set(JAVA_INT, U, (int) length);
            s.set(JAVA_INT, U + 4, Libc.O_CLOEXEC);
            java.util.Map<Integer, String> before = dmabufFds();
            int rc = run(k, "DMABUF_GET", x -> "length=" + Ioas.hex(Integer.toUnsignedLong(x.get(JAVA_INT, U))));
            int fd = rc > 0 ? rc : newDmabufFd(before);
            return new MockDmabuf(this, fd, (length + 4095) & -4096L);
        }
    }

    /**
     * DMABUF_REVOKE (Linux 7.x) on any fd: revokes a mock dma-buf or makes it usable again (see
     * {@link MockDmabuf#revoke(boolean)}).
     *
     * @param dmabufFd the dma-buf's fd
     * @param revoked  true to revoke, false to restore
     * @throws IommufdException EBADF for a closed fd, EINVAL or EOPNOTSUPP for a file that is no mock
     *         dma-buf
     */
    public void revokeDmabuf(int dmabufFd, boolean revoked) throws IommufdException {
        try (KernelCall k = call()) {
            MemorySegment s = cmd(k, IOMMU_TEST_OP_DMABUF_REVOKE(), 0);
            s.set(JAVA_INT, U, dmabufFd);
            s.set(JAVA_INT, U + 4, revoked ? 1 : 0);
            run(k, "DMABUF_REVOKE", x -> "fd=" + x.get(JAVA_INT, U) + ", revoked=" + (x.get(JAVA_INT, U + 4) != 0));
        }
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
     * The selftest HWPT data ({@code struct iommu_hwpt_selftest}) for a mock nested page table:
     * every IOTLB slot starts at {@code iotlb}. Only its first field (4 bytes): 6.12's struct has
     * nothing else and its mock refuses a longer one with EINVAL, while 7.3 zero-fills the rest.
     *
     * @param arena the arena that owns the data
     * @param iotlb the initial value of the 4 IOTLB slots, e.g. {@link #IOTLB_DEFAULT}
     * @return the data, for {@link #HWPT_DATA_SELFTEST}
     */
    public static MemorySegment selftestData(Arena arena, int iotlb) {
        MemorySegment d = arena.allocate(JAVA_INT);
        io.github.iommufd4j.bindings.uapi.iommu_hwpt_selftest.iotlb(d, iotlb);
        return d;
    }

    /**
     * The mock vIOMMU's data ({@code struct iommu_viommu_selftest}): the kernel copies
     * {@code inData} to {@code out_data} and to the first word of an mmap-able region and writes
     * back the region's offset and length (for {@link Viommu#mapRegion}).
     *
     * @param arena  the arena that owns the data
     * @param inData the value to echo
     * @return the data, for {@link Iommufd#allocViommu} with {@link #VIOMMU_TYPE_SELFTEST}
     */
    public static MemorySegment viommuData(Arena arena, int inData) {
        MemorySegment d = arena.allocate(io.github.iommufd4j.bindings.uapi.iommu_viommu_selftest.layout());
        io.github.iommufd4j.bindings.uapi.iommu_viommu_selftest.in_data(d, inData);
        return d;
    }

    /**
     * Writes mock vIOMMU invalidation entry {@code i} ({@code struct iommu_viommu_invalidate_selftest},
     * 12 bytes) into {@code entries}, for {@link Viommu#invalidate} with
     * {@link #VIOMMU_INVALIDATE_DATA_SELFTEST}.
     *
     * @param entries the entry array, at least {@code 12 * (i + 1)} bytes
     * @param i       the entry's index
     * @param flags   {@link #INVALIDATE_FLAG_ALL} (every cache slot) or 0
     * @param vdevId  the virtual id of the device whose cache is invalidated
     * @param cacheId the cache slot, 0 to 3 (ignored with FLAG_ALL)
     */
    public static void viommuInvalidation(MemorySegment entries, int i, int flags, int vdevId, int cacheId) {
        MemorySegment e = entries.asSlice(i * 12L, 12);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.flags(e, flags);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.vdev_id(e, vdevId);
        io.github.iommufd4j.bindings.uapi.iommu_viommu_invalidate_selftest.cache_id(e, cacheId);
    }
}
