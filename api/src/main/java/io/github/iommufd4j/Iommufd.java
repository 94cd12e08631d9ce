package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.IommufdBackend;
import io.github.iommufd4j.internal.NativeAccess;
import io.github.iommufd4j.internal.NativeBackend;
import io.github.iommufd4j.internal.software.SoftwareBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * An open iommufd: the container of IO address spaces, page tables, fault queues and devices.
 *
 * <pre>{@code
 * try (Iommufd fd = Iommufd.open()) {            // native if /dev/iommu works, else software
 *     Ioas ioas = fd.allocIoas();
 *     long iova = ioas.map(segment, Access.READ_WRITE);
 * }
 * }</pre>
 *
 * Closing it closes every handle made from it and their file descriptors; the kernel destroys
 * the objects with the fd. Thread-safe.
 */
public final class Iommufd implements AutoCloseable {
    /** System property choosing the backend for {@link #open()}: AUTO, NATIVE or SOFTWARE. */
    public static final String BACKEND_PROPERTY = "iommufd4j.backend";
    /** System property: the Linux release whose behaviour the software backend reproduces, 7.3 (default) or 6.12. */
    public static final String SOFTWARE_KERNEL_PROPERTY = SoftwareBackend.KERNEL_PROPERTY;

    private final IommufdBackend backend;
    private final Backend kind;
    private final HandleState state = new HandleState();
    private final List<Handle> handles = new ArrayList<>();
    private final Map<Command, Boolean> supported = new EnumMap<>(Command.class);
    private final String why;
    private volatile VfioCompat vfioCompat;

    private Iommufd(IommufdBackend backend, Backend kind, String why) {
        this.backend = backend;
        this.kind = kind;
        this.why = why;
    }

    private static final System.Logger LOG = System.getLogger("io.github.iommufd4j");

    /** Opens the backend named by {@value #BACKEND_PROPERTY} (default AUTO). */
    public static Iommufd open() throws IommufdException {
        String name = System.getProperty(BACKEND_PROPERTY, "AUTO");
        Backend b;
        try {
            b = Backend.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + BACKEND_PROPERTY + "=" + name + ": AUTO, NATIVE or SOFTWARE");
        }
        return open(b);
    }

    /**
     * Opens an iommufd on the given backend; AUTO picks native when {@code /dev/iommu} opens and
     * otherwise the software backend, saying why through {@link System.Logger} (INFO when there is
     * no {@code /dev/iommu}, WARNING when it exists but cannot be used) and in
     * {@link #backendReason()}.
     *
     * @throws IllegalStateException when the JVM does not grant the library native access
     */
    public static Iommufd open(Backend backend) throws IommufdException {
        java.util.Objects.requireNonNull(backend, "backend");
        NativeAccess.require();
        if (backend == Backend.SOFTWARE) {
            return new Iommufd(new SoftwareBackend(), Backend.SOFTWARE, softwareName() + ", requested");
        }
        try {
            return new Iommufd(NativeBackend.open(NativeBackend.DEVICE), Backend.NATIVE, NativeBackend.DEVICE + " opened");
        } catch (NativeBackend.NativeOpenException e) {
            String reason = availability().reason();
            if (backend == Backend.NATIVE) {
                throw new IommufdException("open", NativeBackend.DEVICE, e.errno,
                        reason + " (use the software backend, or run inside a guest with iommufd)");
            }
            boolean exists = new java.io.File(NativeBackend.DEVICE).exists();
            LOG.log(exists ? System.Logger.Level.WARNING : System.Logger.Level.INFO,
                    "iommufd4j: using the " + softwareName() + ": " + reason);
            return new Iommufd(new SoftwareBackend(), Backend.SOFTWARE, softwareName() + ", because " + reason);
        }
    }

    /** "software backend emulating Linux 7.3" (or the release {@value #SOFTWARE_KERNEL_PROPERTY} names). */
    private static String softwareName() {
        return "software backend emulating Linux " + System.getProperty(SOFTWARE_KERNEL_PROPERTY, "7.3");
    }

    /**
     * Wraps an iommufd file descriptor handed over by a privileged helper and takes ownership of
     * it. The fd is checked first with a harmless IOMMU_OPTION GET (RLIMIT_MODE), which only an
     * iommufd answers: any other fd is refused with the errno the check got, and stays open and
     * owned by the caller.
     */
    public static Iommufd fromFd(int fd) throws IommufdException {
        if (fd < 0) throw new IllegalArgumentException("fromFd: fd " + fd);
        NativeAccess.require();
        NativeBackend probe = NativeBackend.adopt(fd);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(iommu_option.layout());
            iommu_option.size(s, (int) iommu_option.sizeof());
            iommu_option.option_id(s, IOMMU_OPTION_RLIMIT_MODE());
            iommu_option.op(s, (short) IOMMU_OPTION_OP_GET());
            int rc = probe.ioctl(Command.OPTION.request(), s);
            if (rc < 0) {
                throw new IommufdException("fromFd", "fd=" + fd, -rc,
                        "not an iommufd: IOMMU_OPTION got " + Errno.name(-rc) + " (the fd stays open, owned by the caller)");
            }
        }
        return new Iommufd(probe, Backend.NATIVE, "fd " + fd + " handed over");
    }

    /** Whether the kernel's {@code /dev/iommu} can be opened, and why not. */
    public static Availability availability() {
        String noAccess = NativeAccess.problem();
        if (noAccess != null) return new Availability(false, noAccess);
        return Availability.probe(NativeBackend.DEVICE);
    }

    /** Shorthand for {@code availability().available()}. */
    public static boolean isAvailable() {
        return availability().available();
    }

    /** NATIVE or SOFTWARE. */
    public Backend backend() {
        return kind;
    }

    /**
     * Why this backend was chosen, e.g. "software backend emulating Linux 7.3, because no
     * /dev/iommu: kernel without CONFIG_IOMMUFD ...".
     */
    public String backendReason() {
        return why;
    }

    /** The iommufd's file descriptor (native), or -1 (software). Still owned by this object. */
    public int fd() {
        return backend.fd();
    }

    IommufdBackend raw() {
        return backend;
    }

    /**
     * Whether the running kernel has this command; answered without side effects (a zero-size
     * struct fails with EINVAL when the command exists and ENOTTY when it does not) and cached.
     *
     * @throws IllegalStateException if this iommufd is closed
     */
    public boolean supports(Command command) {
        try (KernelCall k = KernelCall.begin(this, "supports")) {
            synchronized (supported) {
                Boolean known = supported.get(command);
                if (known != null) return known;
                MemorySegment s = k.struct(8);
                s.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, 0);
                boolean has = k.rawIoctl(command.request(), s) != -KernelCall.ENOTTY;
                supported.put(command, has);
                return has;
            }
        } catch (IommufdException closed) {
            throw new IllegalStateException("supports(" + command + "): the iommufd is closed", closed);
        }
    }

    // ---- handles ----

    /** Records a new handle so that closing the iommufd closes it (called inside the call that made it). */
    <H extends Handle> H track(H h) {
        synchronized (handles) {
            handles.add(h);
        }
        return h;
    }

    void forget(Handle h) {
        synchronized (handles) {
            handles.remove(h);
        }
    }

    HandleState state() {
        return state;
    }

    /** Whether {@link #close()} has been called. */
    public boolean isClosed() {
        return state.isClosed();
    }

    /** The typed failure for a negative ioctl result: ENOTTY becomes "unsupported by this kernel". */
    static IommufdException failure(Command c, String args, int rc) {
        if (rc == -KernelCall.ENOTTY) return new UnsupportedCommandException(c, args);
        return new IommufdException(c.ioctlName(), args, -rc);
    }

    /**
     * The escape hatch: issues {@code ioctl(iommufd, request, arg)} with a caller-built struct,
     * exactly as the kernel takes it (on the software backend too). Returns the ioctl's result;
     * failures are thrown with the errno. For commands the typed API does not cover yet. The
     * struct must be native memory; pointers inside it are the caller's responsibility (the
     * software backend answers EFAULT for memory it cannot reach).
     */
    public int ioctl(long request, MemorySegment arg) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "ioctl")) {
            k.kernelWrites(arg, 0, "arg");
            return k.ioctl(request, arg, s -> "request=0x" + Long.toHexString(request));
        }
    }

    // ---- commands on the iommufd itself ----

    /** IOMMU_IOAS_ALLOC: a new, empty IO address space. */
    public Ioas allocIoas() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_ALLOC")) {
            MemorySegment s = k.struct(iommu_ioas_alloc.sizeof());
            k.ioctl(Command.IOAS_ALLOC, x -> "");
            return track(new Ioas(this, iommu_ioas_alloc.out_ioas_id(s)));
        }
    }

    /** IOMMU_FAULT_QUEUE_ALLOC: a fault queue and its file descriptor (owned by the returned handle). */
    public FaultQueue allocFaultQueue() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_FAULT_QUEUE_ALLOC")) {
            int wake = RecordQueue.newWakeFd(k.op());
            MemorySegment s = k.struct(iommu_fault_alloc.sizeof());
            try {
                k.ioctl(Command.FAULT_QUEUE_ALLOC, x -> "");
            } catch (IommufdException e) {
                io.github.iommufd4j.bindings.Libc.close(wake);
                throw e;
            }
            return track(new FaultQueue(this, iommu_fault_alloc.out_fault_id(s), iommu_fault_alloc.out_fault_fd(s), wake));
        }
    }

    /**
     * IOMMU_HWPT_ALLOC on an IOAS: a paging page table for the device's IOMMU (not attached).
     *
     * @param fault a fault queue for I/O page faults (sets FAULT_ID_VALID; Linux 7.x), or null
     */
    public HwPagetable allocHwpt(int deviceId, Ioas ioas, FaultQueue fault, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, ioas, ioas.id(), fault, IOMMU_HWPT_DATA_NONE(), MemorySegment.NULL, flags);
    }

    /** IOMMU_HWPT_ALLOC on an IOAS without a fault queue. */
    public HwPagetable allocHwpt(int deviceId, Ioas ioas, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, ioas, null, flags);
    }

    /**
     * IOMMU_HWPT_ALLOC nested on a NEST_PARENT page table, with driver data, e.g.
     * {@code IOMMU_HWPT_DATA_VTD_S1} or the mock driver's {@code IOMMU_HWPT_DATA_SELFTEST}.
     *
     * @param data  the driver data the kernel reads (native memory), or {@link MemorySegment#NULL}
     * @param fault a fault queue receiving the device's I/O page faults, or null
     */
    public HwPagetable allocNestedHwpt(int deviceId, HwPagetable parent, int dataType, MemorySegment data,
                                       FaultQueue fault, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, parent, parent.id(), fault, dataType, data, flags);
    }

    HwPagetable allocHwpt(int deviceId, Handle on, int ptId, FaultQueue fault, int dataType,
                          MemorySegment data, HwptFlag... flags) throws IommufdException {
        int f = HwptFlag.bits(flags) | (fault != null ? IOMMU_HWPT_FAULT_ID_VALID() : 0);
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_ALLOC").hold(on)) {
            if (fault != null) k.hold(fault);
            MemorySegment s = k.struct(iommu_hwpt_alloc.sizeof());
            iommu_hwpt_alloc.flags(s, f);
            iommu_hwpt_alloc.dev_id(s, deviceId);
            iommu_hwpt_alloc.pt_id(s, ptId);
            iommu_hwpt_alloc.data_type(s, dataType);
            iommu_hwpt_alloc.data_len(s, (int) data.byteSize());
            iommu_hwpt_alloc.data_uptr(s, k.kernelReads(data, data.byteSize(), "data"));
            iommu_hwpt_alloc.fault_id(s, fault != null ? fault.id() : 0);
            k.ioctl(Command.HWPT_ALLOC, x -> "dev=" + iommu_hwpt_alloc.dev_id(x) + ", pt=" + iommu_hwpt_alloc.pt_id(x)
                    + ", flags=0x" + Integer.toHexString(iommu_hwpt_alloc.flags(x))
                    + ((iommu_hwpt_alloc.flags(x) & IOMMU_HWPT_FAULT_ID_VALID()) != 0 ? ", fault=" + iommu_hwpt_alloc.fault_id(x) : "")
                    + (iommu_hwpt_alloc.data_type(x) != 0 ? ", data_type=0x" + Integer.toHexString(iommu_hwpt_alloc.data_type(x)) : ""));
            HwPagetable h = new HwPagetable(this, iommu_hwpt_alloc.out_hwpt_id(s), !(on instanceof Ioas));
            on.addDependent(h);
            if (fault != null) fault.addDependent(h);
            return track(h);
        }
    }

    /**
     * IOMMU_VIOMMU_ALLOC (Linux 6.13+): a virtual IOMMU for the device's IOMMU instance on a
     * NEST_PARENT page table. Nested page tables, virtual devices, event queues and HW queues are
     * made from it.
     *
     * @param type the driver's vIOMMU type, e.g. {@code IOMMU_VIOMMU_TYPE_ARM_SMMUV3} or
     *             {@link MockDriver#VIOMMU_TYPE_SELFTEST}
     * @param data driver data (read and written back by the kernel; native, writable), or {@link MemorySegment#NULL}
     */
    public Viommu allocViommu(int deviceId, HwPagetable nestParent, int type, MemorySegment data) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_VIOMMU_ALLOC").hold(nestParent)) {
            MemorySegment s = k.struct(iommu_viommu_alloc.sizeof());
            iommu_viommu_alloc.type(s, type);
            iommu_viommu_alloc.dev_id(s, deviceId);
            iommu_viommu_alloc.hwpt_id(s, nestParent.id());
            iommu_viommu_alloc.data_len(s, (int) data.byteSize());
            iommu_viommu_alloc.data_uptr(s, k.kernelWrites(data, data.byteSize(), "data"));
            k.ioctl(Command.VIOMMU_ALLOC, x -> "dev=" + iommu_viommu_alloc.dev_id(x) + ", hwpt=" + iommu_viommu_alloc.hwpt_id(x)
                    + ", type=0x" + Integer.toHexString(iommu_viommu_alloc.type(x)));
            Viommu v = new Viommu(this, iommu_viommu_alloc.out_viommu_id(s), type);
            nestParent.addDependent(v);
            return track(v);
        }
    }

    /**
     * IOMMU_IOAS_CHANGE_PROCESS (Linux 6.14+): moves the pinned-page accounting of every mapping
     * to the calling process, e.g. after a live update handed the iommufd to a new VMM process.
     * Only file-backed mappings ({@link Ioas#mapFile}) can move: any other mapping makes it fail
     * with EINVAL.
     */
    public void changeProcess() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_CHANGE_PROCESS")) {
            k.struct(iommu_ioas_change_process.sizeof());
            k.ioctl(Command.IOAS_CHANGE_PROCESS, x -> "");
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE of a nested page table or a vIOMMU (held busy by {@code k}); returns
     * the entries handled. The kernel writes back the count even on failure: the exception's
     * arguments carry it.
     */
    static int invalidate(KernelCall k, int objectId, String object, int dataType, MemorySegment entries, int entryLen, int entryNum)
            throws IommufdException {
        if (entryLen < 0 || entryNum < 0) {
            throw new IllegalArgumentException(k.op() + ": entry_len " + entryLen + ", entry_num " + entryNum);
        }
        MemorySegment s = k.struct(iommu_hwpt_invalidate.sizeof());
        iommu_hwpt_invalidate.hwpt_id(s, objectId);
        iommu_hwpt_invalidate.data_uptr(s, k.kernelReads(entries, (long) entryLen * entryNum, "entries"));
        iommu_hwpt_invalidate.data_type(s, dataType);
        iommu_hwpt_invalidate.entry_len(s, entryLen);
        iommu_hwpt_invalidate.entry_num(s, entryNum);
        int rc = k.rawIoctl(Command.HWPT_INVALIDATE.request(), s);
        int done = iommu_hwpt_invalidate.entry_num(s); // written back even on failure
        if (rc < 0) {
            throw failure(Command.HWPT_INVALIDATE, object + ", data_type=0x" + Integer.toHexString(dataType)
                    + ", entry_len=" + entryLen + ", entry_num=" + entryNum + ", handled=" + done, rc);
        }
        return done;
    }

    /** IOMMU_DESTROY of a raw object id (handles do this on close). */
    public void destroy(int id) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_DESTROY")) {
            iommu_destroy.id(k.struct(iommu_destroy.sizeof()), id);
            k.ioctl(Command.DESTROY, x -> "id=" + iommu_destroy.id(x));
        }
    }

    /** IOMMU_GET_HW_INFO: the IOMMU behind a bound device (type, raw data, capabilities). */
    public HwInfo hwInfo(int deviceId) throws IommufdException {
        try (Arena arena = Arena.ofConfined(); KernelCall k = KernelCall.begin(this, "IOMMU_GET_HW_INFO")) {
            MemorySegment data = arena.allocate(256, 8);
            MemorySegment s = k.struct(iommu_hw_info.sizeof());
            iommu_hw_info.dev_id(s, deviceId);
            iommu_hw_info.data_len(s, (int) data.byteSize());
            iommu_hw_info.data_uptr(s, k.kernelWrites(data, data.byteSize(), "data"));
            k.ioctl(Command.GET_HW_INFO, x -> "dev=" + iommu_hw_info.dev_id(x));
            int len = Math.min(iommu_hw_info.data_len(s), (int) data.byteSize());
            return new HwInfo(iommu_hw_info.out_data_type(s), data.asSlice(0, len).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    iommu_hw_info.out_capabilities(s), iommu_hw_info.out_max_pasid_log2(s) & 0xff);
        }
    }

    /** IOMMU_OPTION RLIMIT_MODE GET: true when pinned memory is accounted per process (mm), false per user. */
    public boolean rlimitModeIsProcess() throws IommufdException {
        return option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_GET(), 0, 0) == 1;
    }

    /** IOMMU_OPTION RLIMIT_MODE SET (needs CAP_SYS_RESOURCE and an empty iommufd). */
    public void setRlimitModeIsProcess(boolean process) throws IommufdException {
        option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_SET(), 0, process ? 1 : 0);
    }

    long option(int optionId, int op, int objectId, long value) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_OPTION")) {
            MemorySegment s = k.struct(iommu_option.sizeof());
            iommu_option.option_id(s, optionId);
            iommu_option.op(s, (short) op);
            iommu_option.object_id(s, objectId);
            iommu_option.val64(s, value);
            k.ioctl(Command.OPTION, x -> "option=" + iommu_option.option_id(x)
                    + ", op=" + (iommu_option.op(x) == IOMMU_OPTION_OP_SET() ? "set" : "get")
                    + ", object=" + iommu_option.object_id(x) + ", val64=" + iommu_option.val64(x));
            return iommu_option.val64(s);
        }
    }

    /** IOMMU_VFIO_IOAS GET: the id of the IOAS used by the VFIO compatibility layer. */
    public int vfioCompatIoas() throws IommufdException {
        return vfioIoas(IOMMU_VFIO_IOAS_GET(), 0);
    }

    /** IOMMU_VFIO_IOAS SET. */
    public void setVfioCompatIoas(Ioas ioas) throws IommufdException {
        vfioIoas(IOMMU_VFIO_IOAS_SET(), ioas.id());
    }

    /** IOMMU_VFIO_IOAS CLEAR. */
    public void clearVfioCompatIoas() throws IommufdException {
        vfioIoas(IOMMU_VFIO_IOAS_CLEAR(), 0);
    }

    private int vfioIoas(int op, int ioasId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_VFIO_IOAS")) {
            MemorySegment s = k.struct(iommu_vfio_ioas.sizeof());
            iommu_vfio_ioas.op(s, (short) op);
            iommu_vfio_ioas.ioas_id(s, ioasId);
            k.ioctl(Command.VFIO_IOAS, x -> "op=" + iommu_vfio_ioas.op(x) + ", ioas=" + iommu_vfio_ioas.ioas_id(x));
            return iommu_vfio_ioas.ioas_id(s);
        }
    }

    /**
     * The VFIO type1 container ioctls this iommufd answers (VFIO_SET_IOMMU, VFIO_IOMMU_MAP_DMA ...),
     * working on the compat IOAS ({@link #setVfioCompatIoas}). Always the same object.
     */
    public VfioCompat vfioCompat() {
        VfioCompat v = vfioCompat;
        if (v == null) {
            synchronized (handles) {
                if (vfioCompat == null) vfioCompat = new VfioCompat(this);
                v = vfioCompat;
            }
        }
        return v;
    }

    /** The mock driver of {@code CONFIG_IOMMUFD_TEST} (IOMMU_TEST_CMD). */
    public MockDriver mock() {
        return new MockDriver(this);
    }

    /**
     * Closes every handle made from this iommufd (their fds included) and then the iommufd; the
     * kernel destroys the objects with it. Idempotent and thread-safe, never spins: new calls
     * fail at once, threads waiting on its queues are woken (they get EBADF "handle is closed"),
     * calls in flight finish first. A second, concurrent close returns when the first is done.
     */
    @Override
    public void close() {
        if (!state.markClosed()) {
            state.awaitReleased();
            return;
        }
        try {
            Set<Handle> shut = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            shutAll(shut);                       // wakes waiters: they hold only their queue
            state.awaitIdle(KernelCall.heldByCurrentThread(state));
            shutAll(shut);                       // handles made by calls that were in flight
            for (Handle h : snapshot()) {
                if (shut.contains(h)) h.abandon();
                else h.state.awaitReleased();    // another thread is closing it
            }
            synchronized (handles) {
                handles.clear();
            }
            backend.close();
        } finally {
            state.markReleased();
        }
    }

    private void shutAll(Set<Handle> shut) {
        for (Handle h : snapshot()) if (h.shut()) shut.add(h);
    }

    /** The handles, newest first. */
    private List<Handle> snapshot() {
        synchronized (handles) {
            return new ArrayList<>(handles.reversed());
        }
    }

    @Override
    public String toString() {
        return "Iommufd[" + (kind == Backend.SOFTWARE ? softwareName() : backend.name()) + (fd() >= 0 ? ", fd=" + fd() : "") + (isClosed() ? ", closed" : "") + "]";
    }
}
