package io.github.iommufd4j.uring;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.__kernel_timespec;
import io.github.iommufd4j.bindings.uapi.io_cqring_offsets;
import io.github.iommufd4j.bindings.uapi.io_sqring_offsets;
import io.github.iommufd4j.bindings.uapi.io_uring_getevents_arg;
import io.github.iommufd4j.bindings.uapi.io_uring_params;
import io.github.iommufd4j.bindings.uapi.io_uring_probe;
import io.github.iommufd4j.bindings.uapi.io_uring_probe_op;
import io.github.iommufd4j.bindings.uapi.io_uring_sqe;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * An io_uring instance: a submission queue (SQ) and a completion queue (CQ) shared with the
 * kernel, driven from Java without liburing (whose API is static inline functions that jextract
 * cannot bind) and without allocating in steady state.
 *
 * <pre>{@code
 * try (IoUring ring = IoUring.open(64)) {
 *     ring.pollAddMultishot(eventFd, Libc.POLLIN, 7);     // queue an SQE
 *     ring.submitAndWait(1);                              // io_uring_enter
 *     ring.processCompletions(handler);                   // handler.complete(7, POLLIN, CQE_F_MORE)
 * }
 * }</pre>
 *
 * <h2>Threading</h2>
 * A ring is used by <b>one thread</b>: the preparation methods, {@link #submit()},
 * {@link #submitAndWait(int)} and {@link #processCompletions(CompletionHandler)} keep unsynchronised
 * state (the local SQ tail, the CQ head). Hand a ring to another thread only with a happens-before
 * edge (e.g. through a {@code volatile} write or a queue). Only {@link #close()} may be called from
 * any thread; it does not wake a thread blocked in {@code submitAndWait} (use a timeout, or arm a
 * poll on an eventfd and write to it), and the using thread then gets an exception, never a crash:
 * the ring memory is owned by a shared {@link Arena}, so an access after close fails cleanly.
 *
 * <h2>Submission</h2>
 * Each preparation method ({@link #nop}, {@link #read}, {@link #pollAdd}, ...) fills the next free
 * SQE; nothing reaches the kernel until {@link #submit()} or {@link #submitAndWait}. When the SQ is
 * full, the preparation method <b>submits the queued SQEs itself</b> (one {@code io_uring_enter})
 * and then takes the freed slot, so any number of operations can be queued between submits; it
 * throws only if the kernel consumes none of them. Buffers handed to an operation must stay valid
 * until its completion arrives (the kernel writes into them asynchronously) and must be native
 * memory.
 *
 * <h2>Completions</h2>
 * {@link #processCompletions(CompletionHandler)} reaps every CQE that is ready and passes
 * {@code (user_data, res, flags)} to a reusable {@link CompletionHandler}. A negative {@code res}
 * is {@code -errno} of that operation; it is not thrown. The CQ holds twice as many entries as the
 * SQ by default; if it overflows, the kernel (with {@code IORING_FEAT_NODROP}) keeps the extra
 * completions and this class flushes them when the CQ is empty.
 *
 * <h2>Closing</h2>
 * {@link #close()} is idempotent and unmaps the rings and closes the ring fd without waiting for
 * operations in flight: the kernel cancels them (armed polls are removed at once), so closing never
 * hangs, but a buffer lent to a read that is still running must not be freed before the ring is
 * closed. Cancel and reap first if that matters.
 */
public final class IoUring implements AutoCloseable {

    /** CQE flag: a multishot operation stays armed; more completions with this user_data follow. */
    public static final int CQE_F_MORE = Uapi.IORING_CQE_F_MORE();
    /** SQE flag: {@code fd} is an index into the files registered with {@link #registerFiles}. */
    public static final int SQE_FIXED_FILE = Uapi.IOSQE_FIXED_FILE();
    /** SQE flag: the next SQE starts only after this one completed successfully. */
    public static final int SQE_IO_LINK = Uapi.IOSQE_IO_LINK();
    /** SQE flag: start only after every earlier SQE completed. */
    public static final int SQE_IO_DRAIN = Uapi.IOSQE_IO_DRAIN();
    /** SQE flag: always run in an io-wq worker instead of trying a non-blocking issue first. */
    public static final int SQE_ASYNC = Uapi.IOSQE_ASYNC();
    /** SQE flag: post no CQE if the operation succeeds. */
    public static final int SQE_CQE_SKIP_SUCCESS = Uapi.IOSQE_CQE_SKIP_SUCCESS();
    /** File offset meaning "the file's current position" (which the operation advances). */
    public static final long CURRENT_POSITION = -1L;

    /** {@code struct iovec {void *iov_base; size_t iov_len;}}, for {@link #readv} and {@link #writev}. */
    public static final StructLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"), JAVA_LONG.withName("iov_len")).withName("iovec");

    // Setup flags this class handles. SQPOLL (another submission protocol and wakeups), IOPOLL
    // (completions must be reaped by io_uring_enter), NO_MMAP, R_DISABLED and the mixed-size
    // rings are left out deliberately.
    private static final int SUPPORTED_SETUP_FLAGS = Uapi.IORING_SETUP_CLAMP() | Uapi.IORING_SETUP_CQSIZE()
            | Uapi.IORING_SETUP_SUBMIT_ALL() | Uapi.IORING_SETUP_COOP_TASKRUN() | Uapi.IORING_SETUP_TASKRUN_FLAG()
            | Uapi.IORING_SETUP_SINGLE_ISSUER() | Uapi.IORING_SETUP_DEFER_TASKRUN() | Uapi.IORING_SETUP_NO_SQARRAY()
            | Uapi.IORING_SETUP_SQE128() | Uapi.IORING_SETUP_CQE32();

    private static final int NR_SETUP = Uapi.__NR_io_uring_setup();
    private static final int NR_ENTER = Uapi.__NR_io_uring_enter();
    private static final int NR_REGISTER = Uapi.__NR_io_uring_register();
    private static final int ENTER_GETEVENTS = Uapi.IORING_ENTER_GETEVENTS();
    private static final int ENTER_EXT_ARG = Uapi.IORING_ENTER_EXT_ARG();
    private static final int SQ_CQ_OVERFLOW = Uapi.IORING_SQ_CQ_OVERFLOW();
    private static final int SQ_TASKRUN = Uapi.IORING_SQ_TASKRUN();
    private static final int IO_URING_OP_SUPPORTED = 1; // a #define jextract does not emit: (1U << 0)

    private static final int EINTR = 4, EBADF = 9, EBUSY = 16, EINVAL = 22, ETIME = 62, EOPNOTSUPP = 95;

    private static final int OP_NOP = Uapi.IORING_OP_NOP(), OP_READ = Uapi.IORING_OP_READ(),
            OP_WRITE = Uapi.IORING_OP_WRITE(), OP_READV = Uapi.IORING_OP_READV(), OP_WRITEV = Uapi.IORING_OP_WRITEV(),
            OP_READ_FIXED = Uapi.IORING_OP_READ_FIXED(), OP_WRITE_FIXED = Uapi.IORING_OP_WRITE_FIXED(),
            OP_POLL_ADD = Uapi.IORING_OP_POLL_ADD(), OP_POLL_REMOVE = Uapi.IORING_OP_POLL_REMOVE(),
            OP_ASYNC_CANCEL = Uapi.IORING_OP_ASYNC_CANCEL();

    // SQE field offsets from the generated layout (the unions are flattened by jextract).
    private static final long SQE_OPCODE = io_uring_sqe.opcode$offset();
    private static final long SQE_FLAGS = io_uring_sqe.flags$offset();
    private static final long SQE_FD = io_uring_sqe.fd$offset();
    private static final long SQE_OFF = io_uring_sqe.off$offset();
    private static final long SQE_ADDR = io_uring_sqe.addr$offset();
    private static final long SQE_LEN = io_uring_sqe.len$offset();
    private static final long SQE_OP_FLAGS = io_uring_sqe.rw_flags$offset(); // poll32_events, cancel_flags, ...
    private static final long SQE_USER_DATA = io_uring_sqe.user_data$offset();
    private static final long SQE_BUF_INDEX = io_uring_sqe.buf_index$offset();

    /**
     * Plain int accesses at a byte offset of a segment, used with {@code getAcquire}/{@code setRelease}
     * for the indices shared with the kernel. Coordinates: (MemorySegment, long offset).
     */
    private static final VarHandle INT = JAVA_INT.varHandle();

    private final int ringFd;
    private final int features;
    private final int setupFlags;
    private final int sqEntries;
    private final int cqEntries;
    private final boolean deferTaskrun;
    private final Arena arena;           // shared: owns the mappings (munmap on close) and the small structs
    private final MemorySegment sqRing;  // head, tail, mask, flags, dropped, array
    private final MemorySegment cqRing;  // head, tail, mask, overflow, cqes; the same mapping as sqRing with SINGLE_MMAP
    private final MemorySegment sqes;    // the SQE array, a separate mapping
    private final long sqHead, sqTail, sqFlags, sqDropped;
    private final int sqMask;
    private final long cqHead, cqTail, cqOverflow, cqes;
    private final int cqMask;
    private final int sqeSize;
    private final int cqeSize;
    private final boolean[] supported;   // per opcode, from the probe
    private final Probe probe;
    private final MemorySegment extArg;  // struct io_uring_getevents_arg, reused for timed waits
    private final MemorySegment timeout; // struct __kernel_timespec, reused for timed waits
    private final AtomicBoolean closed = new AtomicBoolean();

    // State of the owning thread (see the class comment): no synchronisation.
    private int localSqTail;            // next SQE slot to fill; published to the kernel on submit
    private long lastSqe = -1;          // byte offset of the SQE prepared last and not yet submitted
    private int localCqHead;            // next CQE to read; published to the kernel after a batch
    private boolean inHandler;          // guards against processCompletions inside a handler

    /**
     * Opens a ring with {@code entries} SQEs (rounded up to a power of two by the kernel) and twice as
     * many CQEs.
     *
     * @throws IoUringException if {@code io_uring_setup} fails, e.g. ENOSYS or EPERM when io_uring is
     *                          disabled; the message says why (see {@link #availability()})
     */
    public static IoUring open(int entries) throws IoUringException {
        return open(entries, 0, 0);
    }

    /**
     * Opens a ring.
     *
     * @param entries    SQ entries (1..32768, rounded up to a power of two by the kernel)
     * @param cqEntries  CQ entries, or 0 for the kernel's default of twice {@code entries}
     * @param setupFlags {@code IORING_SETUP_*} flags from {@link Uapi}; supported: CLAMP, SUBMIT_ALL,
     *                   COOP_TASKRUN, TASKRUN_FLAG, SINGLE_ISSUER, DEFER_TASKRUN, NO_SQARRAY, SQE128,
     *                   CQE32 (CQSIZE is implied by {@code cqEntries > 0})
     * @throws IllegalArgumentException for a non-positive count or a setup flag this class does not handle
     * @throws IoUringException         if a system call fails
     */
    public static IoUring open(int entries, int cqEntries, int setupFlags) throws IoUringException {
        if (entries <= 0) throw new IllegalArgumentException("entries must be positive: " + entries);
        if (cqEntries < 0) throw new IllegalArgumentException("cqEntries must not be negative: " + cqEntries);
        int unsupported = setupFlags & ~SUPPORTED_SETUP_FLAGS;
        if (unsupported != 0) {
            throw new IllegalArgumentException("IORING_SETUP flags 0x" + Integer.toHexString(unsupported)
                    + " are not supported by this binding (SQPOLL, IOPOLL, NO_MMAP, R_DISABLED, ...)");
        }
        return new IoUring(entries, cqEntries, setupFlags);
    }

    private IoUring(int entries, int cqEntriesWanted, int flags) throws IoUringException {
        if (cqEntriesWanted > 0) flags |= Uapi.IORING_SETUP_CQSIZE();
        // Setup-time only: an automatic arena keeps the params alive while we read the offsets.
        MemorySegment params = io_uring_params.allocate(Arena.ofAuto()); // zeroed, as the kernel requires
        io_uring_params.flags(params, flags);
        io_uring_params.cq_entries(params, cqEntriesWanted);
        long r = Libc.syscall(NR_SETUP, entries, params.address(), 0, 0, 0, 0);
        if (r < 0) throw new IoUringException("io_uring_setup", (int) -r, setupHint((int) -r));
        int fd = (int) r;
        this.features = io_uring_params.features(params);
        this.sqEntries = io_uring_params.sq_entries(params);
        this.cqEntries = io_uring_params.cq_entries(params);
        MemorySegment sqOff = io_uring_params.sq_off(params);
        MemorySegment cqOff = io_uring_params.cq_off(params);
        this.ringFd = fd;
        this.setupFlags = flags;
        this.deferTaskrun = (flags & Uapi.IORING_SETUP_DEFER_TASKRUN()) != 0;
        this.sqeSize = (flags & Uapi.IORING_SETUP_SQE128()) != 0 ? 128 : 64;
        this.cqeSize = (flags & Uapi.IORING_SETUP_CQE32()) != 0 ? 32 : 16;
        boolean noSqArray = (flags & Uapi.IORING_SETUP_NO_SQARRAY()) != 0;

        // The kernel describes the ring layout by offsets (they differ between kernels), and the
        // rings live in kernel memory that we map at fixed "magic" file offsets of the ring fd:
        // IORING_OFF_SQ_RING, IORING_OFF_CQ_RING and IORING_OFF_SQES. Since 5.4
        // (IORING_FEAT_SINGLE_MMAP) both rings are one allocation, mapped once.
        long sqRingSize = noSqArray ? io_sqring_offsets.dropped(sqOff) + 4L
                : io_sqring_offsets.array(sqOff) + 4L * sqEntries;
        long cqRingSize = io_cqring_offsets.cqes(cqOff) + (long) cqeSize * cqEntries;
        boolean singleMmap = (features & Uapi.IORING_FEAT_SINGLE_MMAP()) != 0;
        if (singleMmap) {
            sqRingSize = cqRingSize = Math.max(sqRingSize, cqRingSize);
        }
        Arena shared = Arena.ofShared();
        try {
            this.sqRing = map(shared, fd, sqRingSize, Uapi.IORING_OFF_SQ_RING(), "SQ ring");
            this.cqRing = singleMmap ? sqRing : map(shared, fd, cqRingSize, Uapi.IORING_OFF_CQ_RING(), "CQ ring");
            this.sqes = map(shared, fd, (long) sqeSize * sqEntries, Uapi.IORING_OFF_SQES(), "SQE array");
            this.extArg = shared.allocate(io_uring_getevents_arg.layout());
            this.timeout = shared.allocate(__kernel_timespec.layout());
            this.probe = probe(fd, shared);
        } catch (IoUringException | RuntimeException | Error e) {
            shared.close(); // unmaps whatever was mapped
            Libc.close(fd);
            throw e;
        }
        this.arena = shared;
        this.sqHead = io_sqring_offsets.head(sqOff);
        this.sqTail = io_sqring_offsets.tail(sqOff);
        this.sqFlags = io_sqring_offsets.flags(sqOff);
        this.sqDropped = io_sqring_offsets.dropped(sqOff);
        this.sqMask = sqRing.get(JAVA_INT, io_sqring_offsets.ring_mask(sqOff));
        this.cqHead = io_cqring_offsets.head(cqOff);
        this.cqTail = io_cqring_offsets.tail(cqOff);
        this.cqOverflow = io_cqring_offsets.overflow(cqOff);
        this.cqes = io_cqring_offsets.cqes(cqOff);
        this.cqMask = cqRing.get(JAVA_INT, io_cqring_offsets.ring_mask(cqOff));
        boolean[] ops = new boolean[256];
        for (int op = 0; op < 256; op++) ops[op] = probe.supports(op);
        this.supported = ops;

        if (!noSqArray) {
            // The SQ array maps ring slots to SQE indices. We always use slot i for SQE i, so fill
            // the identity once (as liburing does) instead of writing it on every submission.
            long array = io_sqring_offsets.array(sqOff);
            for (int i = 0; i < sqEntries; i++) sqRing.set(JAVA_INT, array + 4L * i, i);
        }
        this.localSqTail = (int) INT.getAcquire(sqRing, sqTail);
        this.localCqHead = (int) INT.getAcquire(cqRing, cqHead);
    }

    @SuppressWarnings("restricted") // reinterpret: the size is the one the kernel mapped
    private static MemorySegment map(Arena arena, int fd, long size, long offset, String what) throws IoUringException {
        long addr = Libc.mmap(0, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        if (addr < 0 && addr > -4096) throw new IoUringException("mmap(" + what + ")", (int) -addr);
        // The mapping belongs to the arena: closing it unmaps, and any later access throws instead of faulting.
        return MemorySegment.ofAddress(addr).reinterpret(size, arena, s -> Libc.munmap(addr, size));
    }

    private static Probe probe(int fd, Arena arena) throws IoUringException {
        int n = 256;
        MemorySegment p = arena.allocate(io_uring_probe.sizeof() + n * io_uring_probe_op.sizeof(), 8);
        long r = Libc.syscall(NR_REGISTER, fd, Uapi.IORING_REGISTER_PROBE(), p.address(), n, 0, 0);
        if (r < 0) {
            throw new IoUringException("io_uring_register(IORING_REGISTER_PROBE)", (int) -r,
                    r == -EINVAL ? "the kernel is older than 5.6; this binding needs the opcode probe" : null);
        }
        int opsLen = Byte.toUnsignedInt(io_uring_probe.ops_len(p));
        boolean[] supported = new boolean[256];
        MemorySegment ops = p.asSlice(io_uring_probe.sizeof());
        for (int i = 0; i < opsLen; i++) {
            MemorySegment op = ops.asSlice(i * io_uring_probe_op.sizeof(), io_uring_probe_op.sizeof());
            if ((io_uring_probe_op.flags(op) & IO_URING_OP_SUPPORTED) != 0) {
                supported[Byte.toUnsignedInt(io_uring_probe_op.op(op))] = true;
            }
        }
        return new Probe(supported, Byte.toUnsignedInt(io_uring_probe.last_op(p)));
    }

    // ---------------------------------------------------------------- availability

    /**
     * Whether io_uring can be used in this process, and if not, why.
     *
     * @param available true when a ring could be set up
     * @param reason    the kernel and features when available; otherwise the failure, e.g.
     *                  {@code io_uring_setup: EPERM (Operation not permitted): kernel.io_uring_disabled=2: ...}
     */
    public record Availability(boolean available, String reason) {}

    private static final class AvailabilityHolder {
        static final Availability VALUE = check();

        private static Availability check() {
            try (IoUring ring = open(1)) {
                return new Availability(true, "io_uring available: Linux " + System.getProperty("os.version")
                        + ", features 0x" + Integer.toHexString(ring.features()) + ", last opcode "
                        + Probe.opcodeName(ring.probe().lastOp()));
            } catch (IoUringException e) {
                return new Availability(false, e.getMessage());
            } catch (RuntimeException | LinkageError e) {
                return new Availability(false, "io_uring cannot be bound: " + e);
            }
        }
    }

    /** Whether io_uring works here (checked once by setting up a one-entry ring). */
    public static boolean isAvailable() {
        return AvailabilityHolder.VALUE.available();
    }

    /** Whether io_uring works here and, if not, why (checked once). */
    public static Availability availability() {
        return AvailabilityHolder.VALUE;
    }

    /** Explains the usual reasons for {@code io_uring_setup} failing. */
    private static String setupHint(int errno) {
        return switch (Errno.name(errno)) {
            case "ENOSYS" -> "the kernel was built without CONFIG_IO_URING, or a seccomp filter"
                    + " (e.g. a container runtime's default profile) blocks io_uring";
            case "EPERM", "EACCES" -> {
                String disabled = readSysctl("/proc/sys/kernel/io_uring_disabled");
                yield switch (disabled) {
                    case "2" -> "kernel.io_uring_disabled=2: io_uring is disabled for all processes";
                    case "1" -> "kernel.io_uring_disabled=1: only members of kernel.io_uring_group (gid "
                            + readSysctl("/proc/sys/kernel/io_uring_group") + ") or CAP_SYS_ADMIN may create rings";
                    default -> "kernel.io_uring_disabled=" + disabled
                            + "; a seccomp filter or LSM policy probably denies io_uring";
                };
            }
            case "ENOMEM" -> "cannot allocate the rings (on kernels before 5.12 they count against RLIMIT_MEMLOCK)";
            case "EINVAL" -> "invalid entries or setup flags for this kernel";
            default -> null;
        };
    }

    private static String readSysctl(String path) {
        try {
            return Files.readString(Path.of(path)).trim();
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    // ---------------------------------------------------------------- properties

    /** The ring's file descriptor. */
    public int fd() {
        return ringFd;
    }

    /** The {@code IORING_FEAT_*} bits the kernel reported. */
    public int features() {
        return features;
    }

    /** The {@code IORING_SETUP_*} flags the ring was set up with. */
    public int setupFlags() {
        return setupFlags;
    }

    /** SQ size (a power of two). */
    public int sqEntries() {
        return sqEntries;
    }

    /** CQ size (a power of two). */
    public int cqEntries() {
        return cqEntries;
    }

    /** The kernel's opcode probe. */
    public Probe probe() {
        return probe;
    }

    /** Whether the kernel supports {@code opcode} (an {@code IORING_OP_*} value). */
    public boolean supports(int opcode) {
        return opcode >= 0 && opcode < 256 && supported[opcode];
    }

    /** Whether the ring has been closed. */
    public boolean isClosed() {
        return closed.get();
    }

    /** Whether a completion has {@link #CQE_F_MORE}: a multishot operation stays armed. */
    public static boolean hasMore(int cqeFlags) {
        return (cqeFlags & CQE_F_MORE) != 0;
    }

    // ---------------------------------------------------------------- preparation

    /**
     * Queues an SQE with the given fields; every other field is zero. The escape hatch for opcodes
     * without a method of their own.
     *
     * @param opcode   an {@code IORING_OP_*} value
     * @param fd       the file descriptor (or registered file index with {@link #SQE_FIXED_FILE})
     * @param addr     {@code sqe->addr}: a buffer address, iovec array, or target user_data
     * @param len      {@code sqe->len}: a length, iovec count, or op-specific flags
     * @param offset   {@code sqe->off}: a file offset, or op-specific
     * @param opFlags  the op-specific flags union ({@code rw_flags}, {@code poll32_events}, {@code cancel_flags}, ...)
     * @param userData returned in the completion
     * @throws IoUringException if the kernel does not support {@code opcode}, the ring is closed, or
     *                          the SQ was full and submitting it failed
     */
    public void prepare(int opcode, int fd, long addr, int len, long offset, int opFlags, long userData)
            throws IoUringException {
        checkOpcode(opcode);
        long sqe = nextSqe();
        sqes.set(JAVA_BYTE, sqe + SQE_OPCODE, (byte) opcode);
        sqes.set(JAVA_INT, sqe + SQE_FD, fd);
        sqes.set(JAVA_LONG, sqe + SQE_OFF, offset);
        sqes.set(JAVA_LONG, sqe + SQE_ADDR, addr);
        sqes.set(JAVA_INT, sqe + SQE_LEN, len);
        sqes.set(JAVA_INT, sqe + SQE_OP_FLAGS, opFlags);
        sqes.set(JAVA_LONG, sqe + SQE_USER_DATA, userData);
    }

    /**
     * Adds {@code IOSQE_*} flags ({@link #SQE_FIXED_FILE}, {@link #SQE_IO_LINK}, ...) to the SQE
     * prepared last. Call it right after the preparation method, before submitting.
     *
     * @throws IllegalStateException if no SQE has been prepared since the last submission
     */
    public void setLastSqeFlags(int sqeFlags) {
        if (lastSqe < 0) throw new IllegalStateException("no SQE prepared since the last submission");
        byte old = sqes.get(JAVA_BYTE, lastSqe + SQE_FLAGS);
        sqes.set(JAVA_BYTE, lastSqe + SQE_FLAGS, (byte) (old | sqeFlags));
    }

    /** Queues {@code IORING_OP_NOP}: completes with {@code res == 0}. */
    public void nop(long userData) throws IoUringException {
        prepare(OP_NOP, -1, 0, 0, 0, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_READ} of {@code buf.byteSize()} bytes; completes with the byte count.
     *
     * @param offset the file offset, or {@link #CURRENT_POSITION} (also for pipes and sockets)
     */
    public void read(int fd, MemorySegment buf, long offset, long userData) throws IoUringException {
        prepare(OP_READ, fd, address(buf), length(buf), offset, 0, userData);
    }

    /** Queues {@code IORING_OP_WRITE} of {@code buf.byteSize()} bytes; completes with the byte count. */
    public void write(int fd, MemorySegment buf, long offset, long userData) throws IoUringException {
        prepare(OP_WRITE, fd, address(buf), length(buf), offset, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_READV} into {@code count} buffers described by {@code iovecs} (an array
     * of {@link #IOVEC}, see {@link #iovec}).
     */
    public void readv(int fd, MemorySegment iovecs, int count, long offset, long userData) throws IoUringException {
        prepare(OP_READV, fd, iovecs(iovecs, count), count, offset, 0, userData);
    }

    /** Queues {@code IORING_OP_WRITEV} from {@code count} buffers described by {@code iovecs}. */
    public void writev(int fd, MemorySegment iovecs, int count, long offset, long userData) throws IoUringException {
        prepare(OP_WRITEV, fd, iovecs(iovecs, count), count, offset, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_READ_FIXED} into {@code buf}, which must lie inside the buffer registered
     * at {@code bufIndex} (see {@link #registerBuffers}); the kernel skips pinning pages per call.
     */
    public void readFixed(int fd, MemorySegment buf, long offset, int bufIndex, long userData) throws IoUringException {
        prepare(OP_READ_FIXED, fd, address(buf), length(buf), offset, 0, userData);
        sqes.set(JAVA_SHORT, lastSqe + SQE_BUF_INDEX, (short) bufIndex);
    }

    /** Queues {@code IORING_OP_WRITE_FIXED} from {@code buf} inside registered buffer {@code bufIndex}. */
    public void writeFixed(int fd, MemorySegment buf, long offset, int bufIndex, long userData) throws IoUringException {
        prepare(OP_WRITE_FIXED, fd, address(buf), length(buf), offset, 0, userData);
        sqes.set(JAVA_SHORT, lastSqe + SQE_BUF_INDEX, (short) bufIndex);
    }

    /**
     * Queues a one-shot {@code IORING_OP_POLL_ADD}: one completion whose {@code res} is the ready
     * mask ({@code POLLIN}, ...) or {@code -errno}.
     *
     * @param events poll events, e.g. {@link Libc#POLLIN}
     */
    public void pollAdd(int fd, int events, long userData) throws IoUringException {
        prepare(OP_POLL_ADD, fd, 0, 0, 0, events, userData);
    }

    /**
     * Queues a multishot {@code IORING_OP_POLL_ADD} ({@code IORING_POLL_ADD_MULTI}, 5.13+): a
     * completion on every readiness event, each with {@link #CQE_F_MORE} while the poll stays armed.
     * The last completion has no {@code CQE_F_MORE}, e.g. {@code -ECANCELED} after
     * {@link #pollRemove} or {@link #cancel}; re-arm if it ended otherwise.
     */
    public void pollAddMultishot(int fd, int events, long userData) throws IoUringException {
        // Multishot is requested in sqe->len, not in the poll events.
        prepare(OP_POLL_ADD, fd, 0, Uapi.IORING_POLL_ADD_MULTI(), 0, events, userData);
    }

    /**
     * Queues {@code IORING_OP_POLL_REMOVE} of the poll submitted with {@code targetUserData}. The
     * removal completes with 0 (or {@code -ENOENT}), the poll with {@code -ECANCELED}.
     */
    public void pollRemove(long targetUserData, long userData) throws IoUringException {
        prepare(OP_POLL_REMOVE, -1, targetUserData, 0, 0, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_ASYNC_CANCEL} of the operation submitted with {@code targetUserData}.
     * The cancel completes with 0, {@code -ENOENT} or {@code -EALREADY}; the target with
     * {@code -ECANCELED} (or its own result if it was too late).
     */
    public void cancel(long targetUserData, long userData) throws IoUringException {
        cancel(targetUserData, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_ASYNC_CANCEL} with {@code IORING_ASYNC_CANCEL_*} flags, e.g.
     * {@code IORING_ASYNC_CANCEL_ALL} to cancel every operation with {@code targetUserData}.
     */
    public void cancel(long targetUserData, int cancelFlags, long userData) throws IoUringException {
        prepare(OP_ASYNC_CANCEL, -1, targetUserData, 0, 0, cancelFlags, userData);
    }

    /** Describes {@code buf} as element {@code index} of an {@link #IOVEC} array. */
    public static void iovec(MemorySegment iovecs, int index, MemorySegment buf) {
        long base = index * IOVEC.byteSize();
        iovecs.set(JAVA_LONG, base, address(buf));
        iovecs.set(JAVA_LONG, base + 8, buf.byteSize());
    }

    private void checkOpcode(int opcode) throws IoUringException {
        if (opcode < 0 || opcode > 255 || !supported[opcode]) {
            ensureOpen("prepare");
            throw new IoUringException(Probe.opcodeName(opcode), EOPNOTSUPP, "opcode " + opcode
                    + " is not supported by the running kernel (Linux " + System.getProperty("os.version")
                    + ", last opcode " + Probe.opcodeName(probe.lastOp()) + ")");
        }
    }

    private static long address(MemorySegment buf) {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("io_uring needs native memory (the kernel keeps the address), not " + buf);
        }
        return buf.address();
    }

    private static int length(MemorySegment buf) {
        long n = buf.byteSize();
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("buffer larger than 2 GiB: " + n);
        return (int) n;
    }

    private static long iovecs(MemorySegment iovecs, int count) {
        if (count < 0 || count * IOVEC.byteSize() > iovecs.byteSize()) {
            throw new IndexOutOfBoundsException(count + " iovecs do not fit in " + iovecs.byteSize() + " bytes");
        }
        return address(iovecs);
    }

    /**
     * The byte offset of a zeroed free SQE, which becomes the last prepared one. Submits the queued
     * SQEs first when the SQ is full.
     */
    private long nextSqe() throws IoUringException {
        ensureOpen("prepare");
        // Acquire: the kernel advances the head after it has read the SQEs; the slot may be reused
        // only then.
        int head = (int) INT.getAcquire(sqRing, sqHead);
        if (localSqTail - head >= sqEntries) {
            submit();
            head = (int) INT.getAcquire(sqRing, sqHead);
            if (localSqTail - head >= sqEntries) {
                throw new IoUringException("io_uring_enter", EBUSY,
                        "the submission queue is full and the kernel consumed none of its " + sqEntries + " SQEs");
            }
        }
        long sqe = (long) (localSqTail & sqMask) * sqeSize;
        for (int i = 0; i < sqeSize; i += 8) sqes.set(JAVA_LONG, sqe + i, 0L); // a reused slot keeps old fields
        localSqTail++;
        lastSqe = sqe;
        return sqe;
    }

    // ---------------------------------------------------------------- submission

    /**
     * Number of SQEs prepared but not yet consumed by the kernel.
     *
     * @throws IllegalStateException if the ring is closed
     */
    public int pending() {
        ensureOpenUnchecked();
        return localSqTail - (int) INT.getAcquire(sqRing, sqHead);
    }

    /**
     * Submits the queued SQEs ({@code io_uring_enter} without waiting; no system call if none).
     *
     * @return the number of SQEs the kernel consumed
     * @throws IoUringException if {@code io_uring_enter} fails or the ring is closed
     */
    public int submit() throws IoUringException {
        return enter(0, -1L);
    }

    /**
     * Submits the queued SQEs and waits until at least {@code minComplete} completions are ready.
     * May return earlier if a signal interrupts the wait ({@code EINTR} is not an error here).
     *
     * @return the number of SQEs the kernel consumed
     */
    public int submitAndWait(int minComplete) throws IoUringException {
        return enter(minComplete, -1L);
    }

    /**
     * Like {@link #submitAndWait(int)} but waits at most {@code timeoutNanos}; a timeout is not an
     * error (check {@link #completionsReady()} or just process what arrived). Needs
     * {@code IORING_FEAT_EXT_ARG} (Linux 5.11+).
     *
     * @param timeoutNanos the longest wait, {@code >= 0}
     */
    public int submitAndWait(int minComplete, long timeoutNanos) throws IoUringException {
        if (timeoutNanos < 0) throw new IllegalArgumentException("negative timeout: " + timeoutNanos);
        return enter(minComplete, timeoutNanos);
    }

    private int enter(int minComplete, long timeoutNanos) throws IoUringException {
        ensureOpen("io_uring_enter");
        if (minComplete < 0) throw new IllegalArgumentException("negative minComplete: " + minComplete);
        // Release: the SQE contents written with plain stores must be visible to the kernel before
        // it sees the new tail.
        INT.setRelease(sqRing, sqTail, localSqTail);
        lastSqe = -1;
        int toSubmit = localSqTail - (int) INT.getAcquire(sqRing, sqHead);
        int flags = 0;
        long arg = 0, argSize = 0;
        boolean wait = minComplete > 0 || timeoutNanos >= 0;
        if (wait) flags |= ENTER_GETEVENTS;
        if (timeoutNanos >= 0) {
            if ((features & Uapi.IORING_FEAT_EXT_ARG()) == 0) {
                throw new IoUringException("io_uring_enter", EOPNOTSUPP,
                        "a wait timeout needs IORING_FEAT_EXT_ARG (Linux 5.11+)");
            }
            __kernel_timespec.tv_sec(timeout, timeoutNanos / 1_000_000_000L);
            __kernel_timespec.tv_nsec(timeout, timeoutNanos % 1_000_000_000L);
            io_uring_getevents_arg.ts(extArg, timeout.address());
            flags |= ENTER_EXT_ARG;
            arg = extArg.address();
            argSize = extArg.byteSize();
        } else if (toSubmit == 0 && (!wait || completionsReady() >= minComplete)) {
            return 0; // nothing to submit and nothing to wait for: spare the system call
        }
        long r = Libc.syscall(NR_ENTER, ringFd, toSubmit, minComplete, flags, arg, argSize);
        if (r < 0) {
            // A wait that ended by signal or timeout is not a failure (only returned when nothing
            // was submitted; otherwise the kernel returns the submitted count).
            if (wait && (r == -EINTR || r == -ETIME)) return 0;
            throw new IoUringException("io_uring_enter", (int) -r);
        }
        return (int) r;
    }

    // ---------------------------------------------------------------- completion

    /**
     * Number of completions ready in the CQ (without flushing an overflow).
     *
     * @throws IllegalStateException if the ring is closed
     */
    public int completionsReady() {
        ensureOpenUnchecked();
        return (int) INT.getAcquire(cqRing, cqTail) - localCqHead;
    }

    /**
     * Passes every ready completion to {@code handler}, in order, and frees their CQ slots. Makes no
     * system call unless the CQ is empty while the kernel holds overflowed completions or deferred
     * task work. If the handler throws, the completions handed over so far (including the one that
     * threw) are consumed and the exception propagates. The handler may prepare and submit new
     * operations but must not call this method.
     *
     * @return the number of completions processed
     */
    public int processCompletions(CompletionHandler handler) throws IoUringException {
        ensureOpen("processCompletions");
        if (inHandler) throw new IllegalStateException("processCompletions called from a completion handler");
        // Acquire: the kernel writes a CQE, then releases the tail; reading the tail with acquire
        // makes the CQEs before it visible.
        int tail = (int) INT.getAcquire(cqRing, cqTail);
        int head = localCqHead;
        if (head == tail && needsFlush()) {
            // Completions that did not fit are kept by the kernel (IORING_FEAT_NODROP) or wait as
            // task work; an io_uring_enter(GETEVENTS) moves them into the CQ.
            long r = Libc.syscall(NR_ENTER, ringFd, 0, 0, ENTER_GETEVENTS, 0, 0);
            if (r < 0 && r != -EINTR) throw new IoUringException("io_uring_enter", (int) -r);
            tail = (int) INT.getAcquire(cqRing, cqTail);
        }
        int n = 0;
        inHandler = true;
        try {
            while (head != tail) {
                long cqe = cqes + (long) (head & cqMask) * cqeSize;
                long userData = cqRing.get(JAVA_LONG, cqe);
                int res = cqRing.get(JAVA_INT, cqe + 8);
                int flags = cqRing.get(JAVA_INT, cqe + 12);
                head++;
                n++;
                handler.complete(userData, res, flags);
            }
        } finally {
            inHandler = false;
            localCqHead = head;
            // Release: our reads of the CQEs happen before the kernel may overwrite their slots.
            if (n > 0 && !closed.get()) INT.setRelease(cqRing, cqHead, head);
        }
        return n;
    }

    private boolean needsFlush() {
        int f = (int) INT.getAcquire(sqRing, sqFlags);
        return deferTaskrun || (f & (SQ_CQ_OVERFLOW | SQ_TASKRUN)) != 0;
    }

    /** The kernel's count of completions dropped because the CQ overflowed (0 with IORING_FEAT_NODROP). */
    public int cqOverflowCount() {
        ensureOpenUnchecked();
        return (int) INT.getAcquire(cqRing, cqOverflow);
    }

    /** The kernel's count of invalid SQEs it skipped. */
    public int sqDroppedCount() {
        ensureOpenUnchecked();
        return (int) INT.getAcquire(sqRing, sqDropped);
    }

    // ---------------------------------------------------------------- registration

    /**
     * Registers files ({@code IORING_REGISTER_FILES}): afterwards an SQE with {@link #SQE_FIXED_FILE}
     * names a file by its index in {@code fds}, which saves the per-operation file reference
     * counting. An entry of -1 leaves a sparse slot.
     */
    public void registerFiles(int... fds) throws IoUringException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment array = fds.length == 0 ? MemorySegment.NULL : a.allocateFrom(JAVA_INT, fds);
            register(Uapi.IORING_REGISTER_FILES(), array.address(), fds.length, "IORING_REGISTER_FILES");
        }
    }

    /** Unregisters the registered files ({@code IORING_UNREGISTER_FILES}). */
    public void unregisterFiles() throws IoUringException {
        register(Uapi.IORING_UNREGISTER_FILES(), 0, 0, "IORING_UNREGISTER_FILES");
    }

    /**
     * Registers buffers ({@code IORING_REGISTER_BUFFERS}): the kernel pins them once, and
     * {@link #readFixed}/{@link #writeFixed} name them by index. The segments must be native and
     * stay valid until {@link #unregisterBuffers()} or close.
     */
    public void registerBuffers(MemorySegment... buffers) throws IoUringException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(IOVEC, Math.max(1, buffers.length));
            for (int i = 0; i < buffers.length; i++) iovec(iov, i, buffers[i]);
            register(Uapi.IORING_REGISTER_BUFFERS(), iov.address(), buffers.length, "IORING_REGISTER_BUFFERS");
        }
    }

    /** Unregisters the registered buffers ({@code IORING_UNREGISTER_BUFFERS}). */
    public void unregisterBuffers() throws IoUringException {
        register(Uapi.IORING_UNREGISTER_BUFFERS(), 0, 0, "IORING_UNREGISTER_BUFFERS");
    }

    private void register(int opcode, long arg, int nrArgs, String name) throws IoUringException {
        String op = "io_uring_register(" + name + ")";
        ensureOpen(op);
        long r = Libc.syscall(NR_REGISTER, ringFd, opcode, arg, nrArgs, 0, 0);
        if (r < 0) throw new IoUringException(op, (int) -r);
    }

    // ---------------------------------------------------------------- lifecycle

    private void ensureOpen(String operation) throws IoUringException {
        if (closed.get()) throw new IoUringException(operation, EBADF, "the ring is closed");
    }

    private void ensureOpenUnchecked() {
        if (closed.get()) throw new IllegalStateException("the ring is closed");
    }

    /**
     * Unmaps the rings and closes the ring fd. Idempotent and callable from any thread; does not wait
     * for operations in flight (the kernel cancels them). Later calls on this ring throw
     * {@link IoUringException} ({@code EBADF}, "the ring is closed").
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        try {
            arena.close(); // munmap of the three mappings; fails cleanly if another thread is mid-access
        } finally {
            Libc.close(ringFd);
        }
    }

    @Override
    public String toString() {
        return "IoUring[fd=" + ringFd + ", sq=" + sqEntries + ", cq=" + cqEntries
                + (closed.get() ? ", closed" : "") + "]";
    }
}
