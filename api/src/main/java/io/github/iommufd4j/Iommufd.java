package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.IommufdBackend;
import io.github.iommufd4j.internal.NativeBackend;
import io.github.iommufd4j.internal.Scratch;
import io.github.iommufd4j.internal.software.SoftwareBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

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

    /** Opens the backend named by {@value #BACKEND_PROPERTY} (default AUTO). */
    public static Iommufd open() throws IommufdException {
        return open(Backend.valueOf(System.getProperty(BACKEND_PROPERTY, "AUTO").toUpperCase(java.util.Locale.ROOT)));
    }

    /** Opens an iommufd on the given backend; AUTO picks native when {@code /dev/iommu} opens. */
    public static Iommufd open(Backend backend) throws IommufdException {
        if (backend == Backend.SOFTWARE) {
            return new Iommufd(new SoftwareBackend(), Backend.SOFTWARE, "software backend requested");
        }
        try {
            return new Iommufd(NativeBackend.open(NativeBackend.DEVICE), Backend.NATIVE, NativeBackend.DEVICE + " opened");
        } catch (NativeBackend.NativeOpenException e) {
            if (backend == Backend.NATIVE) {
                throw new IommufdException("open", NativeBackend.DEVICE, e.errno,
                        availability().reason() + " (use the software backend, or run inside a guest with iommufd)");
            }
            return new Iommufd(new SoftwareBackend(), Backend.SOFTWARE, availability().reason());
        }
    }

    /** Wraps an iommufd file descriptor handed over by a privileged helper; takes ownership of it. */
    public static Iommufd fromFd(int fd) {
        return new Iommufd(NativeBackend.adopt(fd), Backend.NATIVE, "fd " + fd + " handed over");
    }

    /** Whether the kernel's {@code /dev/iommu} can be opened, and why not. */
    public static Availability availability() {
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

    /** Why this backend was chosen, e.g. "no /dev/iommu: kernel without CONFIG_IOMMUFD". */
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
     */
    public boolean supports(Command command) {
        synchronized (supported) {
            return supported.computeIfAbsent(command, c -> {
                MemorySegment s = Scratch.struct(8);
                return backend.ioctl(c.request(), s) != -Errno.value("ENOTTY");
            });
        }
    }

    // ---- handles ----

    <H extends Handle> H track(H h) throws IommufdException {
        synchronized (handles) {
            if (state.isClosed()) {
                h.abandon();
                throw IommufdException.closed("track", h.describe());
            }
            handles.add(h);
        }
        return h;
    }

    void forget(Handle h) {
        synchronized (handles) {
            handles.remove(h);
        }
    }

    void enter(String op) throws IommufdException {
        if (!state.enter()) throw IommufdException.closed(op, "iommufd");
    }

    void exit() {
        state.exit();
    }

    /** The typed failure for a negative ioctl result: ENOTTY becomes "unsupported by this kernel". */
    static IommufdException failure(Command c, String args, int rc) {
        if (rc == -Errno.value("ENOTTY")) return new UnsupportedCommandException(c, args);
        return new IommufdException(c.ioctlName(), args, -rc);
    }

    int ioctl(Command c, MemorySegment s, String args) throws IommufdException {
        int rc = backend.ioctl(c.request(), s);
        if (rc < 0) throw failure(c, args, rc);
        return rc;
    }

    /**
     * The escape hatch: issues {@code ioctl(iommufd, request, arg)} with a caller-built struct,
     * exactly as the kernel takes it (on the software backend too). Returns the ioctl's result;
     * failures are thrown with the errno. For commands the typed API does not cover yet.
     */
    public int ioctl(long request, MemorySegment arg) throws IommufdException {
        enter("ioctl");
        if (arg.byteSize() > 0) backend.registerMemory(arg);
        try {
            int rc = backend.ioctl(request, arg);
            if (rc < 0) throw new IommufdException("ioctl", "request=0x" + Long.toHexString(request), -rc);
            return rc;
        } finally {
            if (arg.byteSize() > 0) backend.unregisterMemory(arg);
            exit();
        }
    }

    // ---- commands on the iommufd itself ----

    /** IOMMU_IOAS_ALLOC: a new, empty IO address space. */
    public Ioas allocIoas() throws IommufdException {
        enter("IOMMU_IOAS_ALLOC");
        try {
            MemorySegment s = Scratch.struct(iommu_ioas_alloc.sizeof());
            iommu_ioas_alloc.size(s, (int) iommu_ioas_alloc.sizeof());
            ioctl(Command.IOAS_ALLOC, s, "");
            return track(new Ioas(this, iommu_ioas_alloc.out_ioas_id(s)));
        } finally {
            exit();
        }
    }

    /** IOMMU_FAULT_QUEUE_ALLOC: a fault queue and its file descriptor (owned by the returned handle). */
    public FaultQueue allocFaultQueue() throws IommufdException {
        enter("IOMMU_FAULT_QUEUE_ALLOC");
        try {
            MemorySegment s = Scratch.struct(iommu_fault_alloc.sizeof());
            iommu_fault_alloc.size(s, (int) iommu_fault_alloc.sizeof());
            ioctl(Command.FAULT_QUEUE_ALLOC, s, "");
            return track(new FaultQueue(this, iommu_fault_alloc.out_fault_id(s), iommu_fault_alloc.out_fault_fd(s)));
        } finally {
            exit();
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
     * @param fault a fault queue receiving the device's I/O page faults, or null
     */
    public HwPagetable allocNestedHwpt(int deviceId, HwPagetable parent, int dataType, MemorySegment data,
                                       FaultQueue fault, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, parent, parent.id(), fault, dataType, data, flags);
    }

    HwPagetable allocHwpt(int deviceId, Handle on, int ptId, FaultQueue fault, int dataType,
                                  MemorySegment data, HwptFlag... flags) throws IommufdException {
        int f = HwptFlag.bits(flags) | (fault != null ? IOMMU_HWPT_FAULT_ID_VALID() : 0);
        String args = "dev=" + deviceId + ", pt=" + ptId + ", flags=0x" + Integer.toHexString(f)
                + (fault != null ? ", fault=" + fault.id() : "") + (dataType != 0 ? ", data_type=0x" + Integer.toHexString(dataType) : "");
        enter("IOMMU_HWPT_ALLOC");
        try {
            on.enter("IOMMU_HWPT_ALLOC");
        } catch (IommufdException closed) {
            exit(); // a closed handle must leave none entered: their close would wait forever
            throw closed;
        }
        if (fault != null) {
            try {
                fault.enter("IOMMU_HWPT_ALLOC");
            } catch (IommufdException closed) {
                on.exit();
                exit();
                throw closed;
            }
        }
        if (data.byteSize() > 0) backend.registerMemory(data);
        try {
            MemorySegment s = Scratch.struct(iommu_hwpt_alloc.sizeof());
            iommu_hwpt_alloc.size(s, (int) iommu_hwpt_alloc.sizeof());
            iommu_hwpt_alloc.flags(s, f);
            iommu_hwpt_alloc.dev_id(s, deviceId);
            iommu_hwpt_alloc.pt_id(s, ptId);
            iommu_hwpt_alloc.data_type(s, dataType);
            iommu_hwpt_alloc.data_len(s, (int) data.byteSize());
            iommu_hwpt_alloc.data_uptr(s, data.address());
            iommu_hwpt_alloc.fault_id(s, fault != null ? fault.id() : 0);
            ioctl(Command.HWPT_ALLOC, s, args);
            HwPagetable h = new HwPagetable(this, iommu_hwpt_alloc.out_hwpt_id(s), !(on instanceof Ioas));
            on.addDependent(h);
            if (fault != null) fault.addDependent(h);
            return track(h);
        } finally {
            if (data.byteSize() > 0) backend.unregisterMemory(data);
            if (fault != null) fault.exit();
            on.exit();
            exit();
        }
    }

    /**
     * IOMMU_VIOMMU_ALLOC (Linux 6.13+): a virtual IOMMU for the device's IOMMU instance on a
     * NEST_PARENT page table. Nested page tables, virtual devices, event queues and HW queues are
     * made from it.
     *
     * @param type the driver's vIOMMU type, e.g. {@code IOMMU_VIOMMU_TYPE_ARM_SMMUV3} or
     *             {@link MockDriver#VIOMMU_TYPE_SELFTEST}
     * @param data driver data (read and written back by the kernel), or {@link MemorySegment#NULL}
     */
    public Viommu allocViommu(int deviceId, HwPagetable nestParent, int type, MemorySegment data) throws IommufdException {
        String args = "dev=" + deviceId + ", hwpt=" + nestParent.id() + ", type=0x" + Integer.toHexString(type);
        enter("IOMMU_VIOMMU_ALLOC");
        nestParent.enter("IOMMU_VIOMMU_ALLOC");
        if (data.byteSize() > 0) backend.registerMemory(data);
        try {
            MemorySegment s = Scratch.struct(iommu_viommu_alloc.sizeof());
            iommu_viommu_alloc.size(s, (int) iommu_viommu_alloc.sizeof());
            iommu_viommu_alloc.type(s, type);
            iommu_viommu_alloc.dev_id(s, deviceId);
            iommu_viommu_alloc.hwpt_id(s, nestParent.id());
            iommu_viommu_alloc.data_len(s, (int) data.byteSize());
            iommu_viommu_alloc.data_uptr(s, data.address());
            ioctl(Command.VIOMMU_ALLOC, s, args);
            Viommu v = new Viommu(this, iommu_viommu_alloc.out_viommu_id(s), type);
            nestParent.addDependent(v);
            return track(v);
        } finally {
            if (data.byteSize() > 0) backend.unregisterMemory(data);
            nestParent.exit();
            exit();
        }
    }

    /**
     * IOMMU_IOAS_CHANGE_PROCESS (Linux 6.14+): moves the pinned-page accounting of every mapping
     * to the calling process, e.g. after a live update handed the iommufd to a new VMM process.
     * Only file-backed mappings ({@link Ioas#mapFile}) can move: any other mapping makes it fail
     * with EINVAL.
     */
    public void changeProcess() throws IommufdException {
        enter("IOMMU_IOAS_CHANGE_PROCESS");
        try {
            MemorySegment s = Scratch.struct(iommu_ioas_change_process.sizeof());
            iommu_ioas_change_process.size(s, (int) iommu_ioas_change_process.sizeof());
            ioctl(Command.IOAS_CHANGE_PROCESS, s, "");
        } finally {
            exit();
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE of a nested page table or a vIOMMU; returns the entries handled.
     * The kernel writes back the count even on failure: the exception's arguments carry it.
     */
    int invalidate(int objectId, String object, int dataType, MemorySegment entries, int entryLen, int entryNum)
            throws IommufdException {
        if (entries.byteSize() > 0) backend.registerMemory(entries);
        try {
            MemorySegment s = Scratch.struct(iommu_hwpt_invalidate.sizeof());
            iommu_hwpt_invalidate.size(s, (int) iommu_hwpt_invalidate.sizeof());
            iommu_hwpt_invalidate.hwpt_id(s, objectId);
            iommu_hwpt_invalidate.data_uptr(s, entries.address());
            iommu_hwpt_invalidate.data_type(s, dataType);
            iommu_hwpt_invalidate.entry_len(s, entryLen);
            iommu_hwpt_invalidate.entry_num(s, entryNum);
            int rc = backend.ioctl(Command.HWPT_INVALIDATE.request(), s);
            int done = iommu_hwpt_invalidate.entry_num(s); // written back even on failure
            if (rc < 0) {
                throw failure(Command.HWPT_INVALIDATE, object + ", data_type=0x" + Integer.toHexString(dataType)
                        + ", entry_len=" + entryLen + ", entry_num=" + entryNum + ", handled=" + done, rc);
            }
            return done;
        } finally {
            if (entries.byteSize() > 0) backend.unregisterMemory(entries);
        }
    }

    /** IOMMU_DESTROY of a raw object id (handles do this on close). */
    public void destroy(int id) throws IommufdException {
        enter("IOMMU_DESTROY");
        try {
            MemorySegment s = Scratch.struct(iommu_destroy.sizeof());
            iommu_destroy.size(s, (int) iommu_destroy.sizeof());
            iommu_destroy.id(s, id);
            ioctl(Command.DESTROY, s, "id=" + id);
        } finally {
            exit();
        }
    }

    /** IOMMU_GET_HW_INFO: the IOMMU behind a bound device (type, raw data, capabilities). */
    public HwInfo hwInfo(int deviceId) throws IommufdException {
        enter("IOMMU_GET_HW_INFO");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(256, 8);
            backend.registerMemory(data);
            try {
                MemorySegment s = Scratch.struct(iommu_hw_info.sizeof());
                iommu_hw_info.size(s, (int) iommu_hw_info.sizeof());
                iommu_hw_info.dev_id(s, deviceId);
                iommu_hw_info.data_len(s, (int) data.byteSize());
                iommu_hw_info.data_uptr(s, data.address());
                ioctl(Command.GET_HW_INFO, s, "dev=" + deviceId);
                int len = Math.min(iommu_hw_info.data_len(s), (int) data.byteSize());
                return new HwInfo(iommu_hw_info.out_data_type(s), data.asSlice(0, len).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        iommu_hw_info.out_capabilities(s), iommu_hw_info.out_max_pasid_log2(s) & 0xff);
            } finally {
                backend.unregisterMemory(data);
            }
        } finally {
            exit();
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
        String args = "option=" + optionId + ", op=" + (op == IOMMU_OPTION_OP_SET() ? "set" : "get") + ", object=" + objectId + ", val64=" + value;
        enter("IOMMU_OPTION");
        try {
            MemorySegment s = Scratch.struct(iommu_option.sizeof());
            iommu_option.size(s, (int) iommu_option.sizeof());
            iommu_option.option_id(s, optionId);
            iommu_option.op(s, (short) op);
            iommu_option.object_id(s, objectId);
            iommu_option.val64(s, value);
            ioctl(Command.OPTION, s, args);
            return iommu_option.val64(s);
        } finally {
            exit();
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
        enter("IOMMU_VFIO_IOAS");
        try {
            MemorySegment s = Scratch.struct(iommu_vfio_ioas.sizeof());
            iommu_vfio_ioas.size(s, (int) iommu_vfio_ioas.sizeof());
            iommu_vfio_ioas.op(s, (short) op);
            iommu_vfio_ioas.ioas_id(s, ioasId);
            ioctl(Command.VFIO_IOAS, s, "op=" + op + ", ioas=" + ioasId);
            return iommu_vfio_ioas.ioas_id(s);
        } finally {
            exit();
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
     * kernel destroys the objects with it. Idempotent and thread-safe.
     */
    @Override
    public void close() {
        if (!state.close()) return; // waits for operations in progress, which may still track handles
        List<Handle> all;
        synchronized (handles) {
            all = new ArrayList<>(handles.reversed());
            handles.clear();
        }
        for (Handle h : all) h.abandon();
        backend.close();
    }

    @Override
    public String toString() {
        return "Iommufd[" + backend.name() + (fd() >= 0 ? ", fd=" + fd() : "") + "]";
    }
}
