package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.uapi.*;
import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.IommufdBackend;
import io.github.iommufd4j.internal.Jfr;
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
 * An open iommufd ({@code /dev/iommu}): the container of a VMM's IO address spaces
 * ({@link Ioas}), hardware page tables ({@link HwPagetable}), fault and event queues, virtual
 * IOMMUs and bound devices. Every other handle is made from one of these.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=open}
 *
 * <p><b>Backends.</b> {@link #open()} uses the kernel's iommufd when {@code /dev/iommu} can be
 * opened ({@link Backend#NATIVE}) and otherwise an in-process iommufd with the kernel's ABI and
 * errno ({@link Backend#SOFTWARE}); the choice is logged and {@link #backendReason()} says why.
 * {@link #availability()} tells, without opening anything, why the kernel's cannot be used:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=availability}
 *
 * <p><b>Errors.</b> A command the kernel refuses throws {@link IommufdException} with the errno,
 * the command and the ids involved; a command the running kernel does not have throws
 * {@link UnsupportedCommandException} (ENOTTY) naming the Linux release that added it. An
 * argument that never reaches the kernel (a negative fd, a closed arena) is an
 * {@link IllegalArgumentException} or {@link IllegalStateException}.
 *
 * <p><b>Ownership.</b> This object owns the iommufd's file descriptor and every handle made
 * from it. Closing it closes those handles and their file descriptors (fault and event queue
 * fds, mock accesses, VFIO cdevs); the kernel destroys the objects with the fd. Memory mapped
 * into an IOAS stays reachable until it is unmapped or the iommufd closes.
 *
 * <p>Thread-safe: any thread may call any method; {@link #close()} waits for calls in flight.
 */
public final class Iommufd implements AutoCloseable {
    /**
     * System property choosing the backend of {@link #open()}: {@code AUTO} (default), {@code NATIVE} or {@code SOFTWARE}.
     */
    public static final String BACKEND_PROPERTY = "iommufd4j.backend";
    /**
     * System property naming the Linux release whose behaviour the software backend reproduces:
     * {@code 7.3} (default) or {@code 6.12} (commands 6.12 lacks then fail with ENOTTY).
     */
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

    /**
     * Opens an iommufd on the backend named by the system property {@value #BACKEND_PROPERTY}
     * (default {@link Backend#AUTO}).
     *
     * @return the open iommufd; the caller owns it and must close it
     * @throws IommufdException with NATIVE, the errno of opening {@code /dev/iommu} (ENOENT,
     *         EACCES ...) and the reason {@link #availability()} gives
     * @throws IllegalArgumentException if the property names no backend
     * @throws IllegalStateException when the JVM does not grant the library native access
     *         ({@code --enable-native-access=io.github.iommufd4j.bindings,io.github.iommufd4j.api}
     *         on the module path, {@code ALL-UNNAMED} on the class path)
     */
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
     * Opens an iommufd on the given backend. {@link Backend#AUTO} picks the kernel's when
     * {@code /dev/iommu} opens and otherwise the software backend, saying why through
     * {@link System.Logger} (logger {@code io.github.iommufd4j}: INFO when there is no
     * {@code /dev/iommu}, WARNING when it exists but cannot be used, e.g. EACCES) and in
     * {@link #backendReason()}.
     *
     * @param backend AUTO, NATIVE (fails rather than fall back) or SOFTWARE (never touches the kernel)
     * @return the open iommufd; the caller owns it and must close it
     * @throws IommufdException with NATIVE only: the errno of opening {@code /dev/iommu}
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
     * Wraps an iommufd file descriptor handed over by a privileged helper (e.g. received over a
     * UNIX socket) and takes ownership of it: closing the returned object closes the fd. The fd is
     * checked first with a harmless IOMMU_OPTION GET (RLIMIT_MODE), which only an iommufd answers.
     *
     * @param fd an open iommufd file descriptor (native backend)
     * @return the iommufd, owning {@code fd}
     * @throws IommufdException if {@code fd} is not an iommufd (the errno of the check, e.g. ENOTTY
     *         or EBADF); the fd then stays open and owned by the caller
     * @throws IllegalArgumentException if {@code fd} is negative
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

    /**
     * Whether the kernel's {@code /dev/iommu} can be opened here, and why not (no device node,
     * permission, native access not granted). Opens and closes {@code /dev/iommu} to find out.
     *
     * @return the answer with a precise reason
     */
    public static Availability availability() {
        String noAccess = NativeAccess.problem();
        if (noAccess != null) return new Availability(false, noAccess);
        return Availability.probe(NativeBackend.DEVICE);
    }

    /**
     * Shorthand for {@code availability().available()}.
     *
     * @return true when the kernel's iommufd can be opened
     */
    public static boolean isAvailable() {
        return availability().available();
    }

    /**
     * The backend in use.
     *
     * @return {@link Backend#NATIVE} or {@link Backend#SOFTWARE}, never AUTO
     */
    public Backend backend() {
        return kind;
    }

    /**
     * Why this backend is in use.
     *
     * @return e.g. "/dev/iommu opened" or "software backend emulating Linux 7.3, because no
     *         /dev/iommu: kernel without CONFIG_IOMMUFD ..."
     */
    public String backendReason() {
        return why;
    }

    /**
     * The iommufd's file descriptor, e.g. to hand to VFIO or to another process. It stays owned by
     * this object: do not close it.
     *
     * @return the fd (native backend), or -1 (software backend, which has none)
     */
    public int fd() {
        return backend.fd();
    }

    IommufdBackend raw() {
        return backend;
    }

    /**
     * Whether the running kernel (or the kernel the software backend emulates) has this command.
     * Asked without side effects (a zero-size struct fails with EINVAL where the command exists and
     * ENOTTY where not) and cached.
     *
     * @param command the command
     * @return true if the kernel has it
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

    /** The tracked handle of the bound device {@code deviceId} (a mock or VFIO device), or null. */
    Handle deviceHandle(int deviceId) {
        synchronized (handles) {
            for (Handle h : handles) {
                if (h instanceof MockDevice m && m.deviceId() == deviceId) return h;
                if (h instanceof VfioDevice v && v.deviceId() == deviceId) return h;
            }
        }
        return null;
    }

    HandleState state() {
        return state;
    }

    /**
     * Whether {@link #close()} has been called.
     *
     * @return true once closing has begun
     */
    public boolean isClosed() {
        return state.isClosed();
    }

    /**
     * The escape hatch for commands the typed API does not cover: issues
     * {@code ioctl(iommufd, request, arg)} with a caller-built struct exactly as the kernel takes it
     * (the software backend interprets it too). The struct must be native, writable memory (the
     * kernel writes output fields back); pointers inside it are the caller's responsibility (the
     * software backend answers EFAULT for memory it cannot reach).
     *
     * @param request the ioctl request number, e.g. {@link Command#request()}
     * @param arg     the command's struct, its {@code size} field filled in
     * @return the ioctl's non-negative result
     * @throws IommufdException with the kernel's errno (ENOTTY: unknown command)
     * @throws IllegalArgumentException if {@code arg} is not native or not writable
     */
    public int ioctl(long request, MemorySegment arg) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "ioctl")) {
            k.kernelWrites(arg, 0, "arg");
            return k.ioctl(request, arg, s -> "request=0x" + Long.toHexString(request));
        }
    }

    // ---- commands on the iommufd itself ----

    /**
     * IOMMU_IOAS_ALLOC: a new, empty IO address space, e.g. one per guest address space.
     *
     * @return the IOAS, owned by this iommufd (closed with it)
     * @throws IommufdException ENOMEM, or EBADF "handle is closed" after {@link #close()}
     */
    public Ioas allocIoas() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_ALLOC")) {
            MemorySegment s = k.struct(iommu_ioas_alloc.sizeof());
            k.ioctl(Command.IOAS_ALLOC, x -> "");
            return track(new Ioas(this, iommu_ioas_alloc.out_ioas_id(s)));
        }
    }

    // ---- objects made before this handle (sandboxed VMMs, README "Sandboxed VMMs") ----

    /**
     * A handle for an IOAS that already exists in this iommufd, e.g. one a privileged helper
     * allocated before handing the iommufd over. The id is checked with IOMMU_IOAS_IOVA_RANGES
     * without an output buffer (an IOAS answers 0 or EMSGSIZE).
     *
     * <p>Who destroys what: the handle owns the object exactly like one from {@link #allocIoas()}:
     * closing it destroys the IOAS (IOMMU_DESTROY), whoever allocated it, so the maker must not
     * destroy it as well (the helper only closes its copy of the iommufd fd, which destroys
     * nothing while another process holds the iommufd); closing this iommufd frees it with every
     * other object. Mappings made before adoption are the maker's: this handle keeps no memory of
     * theirs reachable, though {@code unmap} can remove them.
     *
     * @param id the IOAS's object id
     * @return the handle, owning the IOAS
     * @throws IommufdException ENOENT for no object or another kind of object
     * @throws IllegalArgumentException when an open handle from this iommufd already owns the id (two
     *         owners would destroy it twice)
     */
    public Ioas adoptIoas(int id) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_IOVA_RANGES")) {
            MemorySegment s = k.struct(iommu_ioas_iova_ranges.sizeof());
            iommu_ioas_iova_ranges.ioas_id(s, id);
            int rc = k.rawIoctl(Command.IOAS_IOVA_RANGES.request(), s);
            if (rc < 0 && rc != -KernelCall.EMSGSIZE) throw k.failed(Command.IOAS_IOVA_RANGES, "ioas=" + id + " (adopt)", rc);
            synchronized (handles) {
                for (Handle h : handles) {
                    if (h instanceof Ioas other && other.id() == id && !other.isClosed()) {
                        throw new IllegalArgumentException("adoptIoas(" + id + "): " + other + " already owns it");
                    }
                }
                return track(new Ioas(this, id));
            }
        }
    }

    /**
     * IOMMU_FAULT_QUEUE_ALLOC (Linux 6.11+): a queue for I/O page faults and its file descriptor.
     * Pass it to {@link #allocHwpt(int, Ioas, FaultQueue, HwptFlag...)} (or a nested allocation) so
     * the devices behind that page table report their faults here; serve it with a
     * {@link io.github.iommufd4j.pump.FaultPump} or with {@link FaultQueue#read}.
     *
     * @return the fault queue; it owns its fd and is closed with this iommufd
     * @throws IommufdException {@link UnsupportedCommandException} before Linux 6.11, EMFILE when the
     *         process has no free fd
     */
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
     * IOMMU_HWPT_ALLOC on an IOAS: a paging page table in the format of the device's IOMMU,
     * mapping what the IOAS maps. It is not attached: attach the device to it (e.g.
     * {@link VfioDevice#attach(int)}).
     *
     * @param deviceId the bound device whose IOMMU the page table is for ({@link VfioDevice#deviceId()},
     *                 {@link MockDevice#deviceId()})
     * @param ioas     the address space whose mappings it holds
     * @param fault    a fault queue for the device's I/O page faults (sets FAULT_ID_VALID; Linux 6.11+),
     *                 or null; the IOMMU must support I/O page faults (else EOPNOTSUPP)
     * @param flags    allocation flags, e.g. {@link HwptFlag#NEST_PARENT}, {@link HwptFlag#DIRTY_TRACKING}
     * @return the page table, closed before {@code ioas} and {@code fault}
     * @throws IommufdException ENOENT for an unknown device, EOPNOTSUPP for a flag the IOMMU lacks
     *         (e.g. dirty tracking), EINVAL for a bad flag combination
     */
    public HwPagetable allocHwpt(int deviceId, Ioas ioas, FaultQueue fault, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, ioas, ioas.id(), fault, IOMMU_HWPT_DATA_NONE(), MemorySegment.NULL, flags);
    }

    /**
     * IOMMU_HWPT_ALLOC on an IOAS without a fault queue; see
     * {@link #allocHwpt(int, Ioas, FaultQueue, HwptFlag...)}.
     *
     * @param deviceId the bound device whose IOMMU the page table is for
     * @param ioas     the address space whose mappings it holds
     * @param flags    allocation flags
     * @return the page table, closed before {@code ioas}
     * @throws IommufdException ENOENT for an unknown device, EOPNOTSUPP for a flag the IOMMU lacks
     */
    public HwPagetable allocHwpt(int deviceId, Ioas ioas, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, ioas, null, flags);
    }

    /**
     * IOMMU_HWPT_ALLOC nested on a {@link HwptFlag#NEST_PARENT} page table: a stage-1 table whose
     * format and contents (e.g. the guest's page table pointer) come from driver data. Since Linux
     * 6.13 nested tables are usually allocated through a {@link Viommu} instead.
     *
     * @param deviceId the bound device
     * @param parent   the NEST_PARENT page table (stage 2, guest physical to host)
     * @param dataType the driver data type, e.g. {@code IOMMU_HWPT_DATA_VTD_S1} or
     *                 {@link MockDriver#HWPT_DATA_SELFTEST}
     * @param data     the driver data the kernel reads (native memory), or {@link MemorySegment#NULL}
     * @param fault    a fault queue receiving the device's I/O page faults, or null
     * @param flags    allocation flags
     * @return the nested page table, closed before {@code parent} and {@code fault}
     * @throws IommufdException EINVAL for a parent that is not NEST_PARENT or bad data, EOPNOTSUPP
     *         for a data type the IOMMU does not take
     */
    public HwPagetable allocNestedHwpt(int deviceId, HwPagetable parent, int dataType, MemorySegment data,
                                       FaultQueue fault, HwptFlag... flags) throws IommufdException {
        return allocHwpt(deviceId, parent, parent.id(), fault, dataType, data, flags);
    }

    HwPagetable allocHwpt(int deviceId, Handle on, int ptId, FaultQueue fault, int dataType,
                          MemorySegment data, HwptFlag... flags) throws IommufdException {
        int f = HwptFlag.bits(flags) | (fault != null ? IOMMU_HWPT_FAULT_ID_VALID() : 0);
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_ALLOC").hold(on).holdDevice(deviceId)) {
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
     * NEST_PARENT page table, the object behind a guest-visible IOMMU. Nested page tables, virtual
     * devices, event queues and HW queues are made from it.
     *
     * {@snippet class=io.github.iommufd4j.snippets.Snippets region=viommu}
     *
     * @param deviceId   a bound device behind the physical IOMMU to virtualise
     * @param nestParent the NEST_PARENT page table holding the guest's RAM
     * @param type       the driver's vIOMMU type, e.g. {@code IOMMU_VIOMMU_TYPE_ARM_SMMUV3} or
     *                   {@link MockDriver#VIOMMU_TYPE_SELFTEST}
     * @param data       driver data (read and written back by the kernel; native, writable), or
     *                   {@link MemorySegment#NULL}
     * @return the vIOMMU, closed before {@code nestParent}
     * @throws IommufdException EOPNOTSUPP for a type the IOMMU does not have, EINVAL for a parent
     *         that is not NEST_PARENT
     */
    public Viommu allocViommu(int deviceId, HwPagetable nestParent, int type, MemorySegment data) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_VIOMMU_ALLOC").hold(nestParent).holdDevice(deviceId)) {
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
     * Only file-backed mappings ({@link Ioas#mapFile}) can move.
     *
     * @throws IommufdException EINVAL if any mapping is not file-backed (or is a dma-buf), EBUSY
     *         while a mapping is being made
     */
    public void changeProcess() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_IOAS_CHANGE_PROCESS")) {
            k.struct(iommu_ioas_change_process.sizeof());
            k.ioctl(Command.IOAS_CHANGE_PROCESS, x -> "");
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE of a nested page table or a vIOMMU ({@code kind} "hwpt" or "viommu",
     * held busy by {@code k}); returns the entries handled. The kernel writes back the count even
     * on failure: the exception's arguments carry it.
     */
    static int invalidate(KernelCall k, String kind, int objectId, int dataType, MemorySegment entries, int entryLen, int entryNum)
            throws IommufdException {
        if (entryLen < 0 || entryNum < 0) {
            throw new IllegalArgumentException(k.op() + ": entry_len " + entryLen + ", entry_num " + entryNum);
        }
        InvalidateEvent event = Jfr.on() ? InvalidateEvent.started() : null; // null unless a JFR recording wants it
        MemorySegment s = k.struct(iommu_hwpt_invalidate.sizeof());
        iommu_hwpt_invalidate.hwpt_id(s, objectId);
        iommu_hwpt_invalidate.data_uptr(s, k.kernelReads(entries, (long) entryLen * entryNum, "entries"));
        iommu_hwpt_invalidate.data_type(s, dataType);
        iommu_hwpt_invalidate.entry_len(s, entryLen);
        iommu_hwpt_invalidate.entry_num(s, entryNum);
        int rc = k.rawIoctl(Command.HWPT_INVALIDATE.request(), s);
        int done = iommu_hwpt_invalidate.entry_num(s); // written back even on failure
        if (rc < 0) {
            throw k.failed(Command.HWPT_INVALIDATE, kind + "=" + objectId + ", data_type=0x" + Integer.toHexString(dataType)
                    + ", entry_len=" + entryLen + ", entry_num=" + entryNum + ", handled=" + done, rc);
        }
        if (event != null) InvalidateEvent.commit(event, kind, objectId, dataType, entryLen, entryNum, done);
        return done;
    }

    /**
     * IOMMU_DESTROY of a raw object id. Handles do this themselves on close; this is for objects
     * made through {@link #ioctl} or left behind when a handle's destroy failed.
     *
     * @param id the object's id
     * @throws IommufdException ENOENT for an unknown id, EBUSY while another object uses it
     */
    public void destroy(int id) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_DESTROY")) {
            iommu_destroy.id(k.struct(iommu_destroy.sizeof()), id);
            k.ioctl(Command.DESTROY, x -> "id=" + iommu_destroy.id(x));
        }
    }

    /**
     * IOMMU_GET_HW_INFO: the IOMMU behind a bound device (type, the driver's raw info struct,
     * capabilities such as dirty tracking, PASID width), e.g. to build the guest's vIOMMU.
     *
     * @param deviceId the bound device
     * @return what the kernel reports
     * @throws IommufdException ENOENT for an unknown device
     */
    public HwInfo hwInfo(int deviceId) throws IommufdException {
        return hwInfo(deviceId, 0);
    }

    /**
     * IOMMU_GET_HW_INFO of one info type (IOMMU_HW_INFO_FLAG_INPUT_TYPE, Linux 6.17+): e.g.
     * {@link Tegra241CmdqvInfo#TYPE} from an SMMUv3 with that extension.
     *
     * @param deviceId the bound device
     * @param type     the info type wanted; 0 is the driver's default (as {@link #hwInfo(int)})
     * @return what the kernel reports
     * @throws IommufdException EOPNOTSUPP for a type the IOMMU does not have, ENOENT for an unknown
     *         device
     */
    public HwInfo hwInfo(int deviceId, int type) throws IommufdException {
        try (Arena arena = Arena.ofConfined(); KernelCall k = KernelCall.begin(this, "IOMMU_GET_HW_INFO").holdDevice(deviceId)) {
            MemorySegment data = arena.allocate(256, 8);
            MemorySegment s = k.struct(iommu_hw_info.sizeof());
            iommu_hw_info.dev_id(s, deviceId);
            if (type != 0) {
                iommu_hw_info.flags(s, IOMMU_HW_INFO_FLAG_INPUT_TYPE());
                iommu_hw_info.in_data_type(s, type);
            }
            iommu_hw_info.data_len(s, (int) data.byteSize());
            iommu_hw_info.data_uptr(s, k.kernelWrites(data, data.byteSize(), "data"));
            k.ioctl(Command.GET_HW_INFO, x -> "dev=" + iommu_hw_info.dev_id(x));
            int len = Math.min(iommu_hw_info.data_len(s), (int) data.byteSize());
            return new HwInfo(iommu_hw_info.out_data_type(s), data.asSlice(0, len).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    iommu_hw_info.out_capabilities(s), iommu_hw_info.out_max_pasid_log2(s) & 0xff);
        }
    }

    /**
     * IOMMU_OPTION RLIMIT_MODE GET: how pinned memory is charged against {@code RLIMIT_MEMLOCK}.
     *
     * @return true when charged per process (mm), false per user (the default)
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
    public boolean rlimitModeIsProcess() throws IommufdException {
        return option(IOMMU_OPTION_RLIMIT_MODE(), IOMMU_OPTION_OP_GET(), 0, 0) == 1;
    }

    /**
     * IOMMU_OPTION RLIMIT_MODE SET: charges pinned memory per process instead of per user. Allowed
     * only before anything is allocated.
     *
     * @param process true: per process (mm); false: per user
     * @throws IommufdException EPERM without CAP_SYS_RESOURCE, EBUSY once objects exist
     */
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

    /**
     * IOMMU_VFIO_IOAS GET: the IOAS the VFIO compatibility layer ({@link #vfioCompat()}) works on.
     *
     * @return its id
     * @throws IommufdException ENODEV when there is no compat IOAS (none set, or it was destroyed)
     */
    public int vfioCompatIoas() throws IommufdException {
        return vfioIoas(IOMMU_VFIO_IOAS_GET(), 0);
    }

    /**
     * IOMMU_VFIO_IOAS SET: makes {@code ioas} the one the VFIO compatibility layer works on.
     *
     * @param ioas the IOAS
     * @throws IommufdException ENOENT if it was destroyed
     */
    public void setVfioCompatIoas(Ioas ioas) throws IommufdException {
        vfioIoas(IOMMU_VFIO_IOAS_SET(), ioas.id());
    }

    /**
     * IOMMU_VFIO_IOAS CLEAR: the VFIO compatibility layer has no IOAS any more.
     *
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
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
     * working on the compat IOAS ({@link #setVfioCompatIoas}), for VMM code written against the
     * legacy container API.
     *
     * @return always the same object
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

    /**
     * The mock driver of {@code CONFIG_IOMMUFD_TEST} (IOMMU_TEST_CMD): devices, accesses and page
     * faults without hardware. Always present on the software backend; absent from production
     * kernels (see {@link MockDriver#isPresent()}).
     *
     * @return a view of the mock driver on this iommufd
     */
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
            // First let go of every handle this close shut, then wait for those other threads are
            // closing: such a thread may be closing one of ours as a dependent, and waits for us.
            List<Handle> all = snapshot();
            for (Handle h : all) if (shut.contains(h)) h.abandon();
            for (Handle h : all) if (!shut.contains(h)) h.state.awaitReleased();
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

    /**
     * Names the backend, the fd and whether it is closed, e.g.
     * {@code Iommufd[software backend emulating Linux 7.3]}.
     *
     * @return a one-line description
     */
    @Override
    public String toString() {
        return "Iommufd[" + (kind == Backend.SOFTWARE ? softwareName() : backend.name()) + (fd() >= 0 ? ", fd=" + fd() : "") + (isClosed() ? ", closed" : "") + "]";
    }
}
