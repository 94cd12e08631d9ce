package io.github.iommufd4j.internal.uring;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.__kernel_timespec;
import io.github.iommufd4j.bindings.uapi.io_cqring_offsets;
import io.github.iommufd4j.bindings.uapi.io_sqring_offsets;
import io.github.iommufd4j.bindings.uapi.io_uring_getevents_arg;
import io.github.iommufd4j.bindings.uapi.io_uring_params;
import io.github.iommufd4j.bindings.uapi.io_uring_sqe;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The io_uring the fault pump runs on: a submission queue (SQ) and a completion queue (CQ) shared
 * with the kernel, driven from Java without liburing (whose API is static inline functions that
 * jextract cannot bind) and without allocating in steady state. Only the operations the pump
 * uses: {@link #read}, {@link #write}, {@link #pollAdd}, {@link #pollAddMultishot} and {@link #cancel}.
 *
 * <p>Threading: a ring belongs to the thread that opened it (the preparation methods,
 * {@link #submitAndWait} and {@link #processCompletions} keep unsynchronised state). Its memory is
 * a confined {@link Arena}: another thread that touches it gets an exception, never a crash, and
 * closing it needs no handshake with every thread of the JVM, as closing a shared arena would (a
 * pump that starts and stops often would stall the whole process each time). {@link #close()}
 * from another thread is refused.
 *
 * <p>Submission: each preparation method fills the next free SQE; nothing reaches the kernel until
 * {@link #submit()} or {@link #submitAndWait}. When the SQ is full, the preparation method submits
 * the queued SQEs itself and then takes the freed slot. Buffers handed to a read must stay valid
 * until its completion arrives and must be native memory.
 *
 * <p>Completions: {@link #processCompletions(CompletionHandler)} passes {@code (user_data, res,
 * flags)} of every ready CQE to a reusable handler; a negative {@code res} is {@code -errno} of
 * that operation, not thrown. If the CQ overflows, the kernel ({@code IORING_FEAT_NODROP}) keeps
 * the extra completions and they are flushed when the CQ is empty.
 *
 * <p>Closing unmaps the rings and closes the ring fd without waiting: the kernel cancels what is in
 * flight. A buffer lent to a read still running must not be freed before; cancel and reap first.
 */
public final class IoUring implements AutoCloseable {

    /** CQE flag: a multishot operation stays armed; more completions with this user_data follow. */
    public static final int CQE_F_MORE = Uapi.IORING_CQE_F_MORE();
    /** The largest SQ the kernel accepts without IORING_SETUP_CLAMP (IORING_MAX_ENTRIES). */
    public static final int MAX_ENTRIES = 32768;

    private static final int NR_SETUP = Uapi.__NR_io_uring_setup();
    private static final int NR_ENTER = Uapi.__NR_io_uring_enter();
    private static final int ENTER_GETEVENTS = Uapi.IORING_ENTER_GETEVENTS();
    private static final int ENTER_EXT_ARG = Uapi.IORING_ENTER_EXT_ARG();
    private static final int SQ_CQ_OVERFLOW = Uapi.IORING_SQ_CQ_OVERFLOW();
    private static final int SQ_TASKRUN = Uapi.IORING_SQ_TASKRUN();
    private static final int SQE_SIZE = 64, CQE_SIZE = 16;

    private static final int EINTR = 4, EBADF = 9, EBUSY = 16, ETIME = 62, EOPNOTSUPP = 95;

    private static final int OP_READ = Uapi.IORING_OP_READ(), OP_WRITE = Uapi.IORING_OP_WRITE(), OP_POLL_ADD = Uapi.IORING_OP_POLL_ADD(),
            OP_ASYNC_CANCEL = Uapi.IORING_OP_ASYNC_CANCEL();

    // SQE field offsets from the generated layout (the unions are flattened by jextract).
    private static final long SQE_OPCODE = io_uring_sqe.opcode$offset();
    private static final long SQE_FD = io_uring_sqe.fd$offset();
    private static final long SQE_OFF = io_uring_sqe.off$offset();
    private static final long SQE_ADDR = io_uring_sqe.addr$offset();
    private static final long SQE_LEN = io_uring_sqe.len$offset();
    private static final long SQE_OP_FLAGS = io_uring_sqe.rw_flags$offset(); // poll32_events, cancel_flags, ...
    private static final long SQE_USER_DATA = io_uring_sqe.user_data$offset();

    /** Int accesses at a byte offset, for getAcquire/setRelease of the indices shared with the kernel. */
    private static final VarHandle INT = JAVA_INT.varHandle();

    private final int ringFd;
    private final int features;
    private final int sqEntries;
    private final int cqEntries;
    private final Arena arena;           // confined to the owner: the mappings (munmap on close) and the small structs
    private final Thread owner;          // the thread that opened the ring and alone uses and closes it
    private final MemorySegment sqRing;  // head, tail, mask, flags, dropped, array
    private final MemorySegment cqRing;  // head, tail, mask, overflow, cqes; the same mapping as sqRing with SINGLE_MMAP
    private final MemorySegment sqes;    // the SQE array, a separate mapping
    private final long sqHead, sqTail, sqFlags;
    private final int sqMask;
    private final long cqHead, cqTail, cqes;
    private final int cqMask;
    private final MemorySegment extArg;  // struct io_uring_getevents_arg, reused for timed waits
    private final MemorySegment timeout; // struct __kernel_timespec, reused for timed waits
    private final AtomicBoolean closed = new AtomicBoolean();

    // State of the owning thread: no synchronisation.
    private int localSqTail;            // next SQE slot to fill; published to the kernel on submit
    private int localCqHead;            // next CQE to read; published to the kernel after a batch
    private boolean inHandler;          // guards against processCompletions inside a handler
    private volatile long enters;       // io_uring_enter calls made (written by the owning thread only)

    /**
     * Opens a ring with {@code entries} SQEs (rounded up to a power of two by the kernel) and twice as
     * many CQEs.
     *
     * @throws IllegalArgumentException unless {@code 1 <= entries <= MAX_ENTRIES}
     * @throws IoUringException         if {@code io_uring_setup} fails, e.g. ENOSYS or EPERM when io_uring
     *                                  is disabled; the message says why
     */
    public static IoUring open(int entries) throws IoUringException {
        if (entries <= 0 || entries > MAX_ENTRIES) {
            throw new IllegalArgumentException("entries must be 1.." + MAX_ENTRIES + ": " + entries);
        }
        return new IoUring(entries);
    }

    private IoUring(int entries) throws IoUringException {
        // Setup-time only: an automatic arena keeps the params alive while we read the offsets.
        MemorySegment params = io_uring_params.allocate(Arena.ofAuto()); // zeroed, as the kernel requires
        long r = Libc.syscall(NR_SETUP, entries, params.address(), 0, 0, 0, 0);
        if (r < 0) throw new IoUringException("io_uring_setup", "entries=" + entries, (int) -r, setupHint((int) -r));
        int fd = (int) r;
        this.features = io_uring_params.features(params);
        this.sqEntries = io_uring_params.sq_entries(params);
        this.cqEntries = io_uring_params.cq_entries(params);
        MemorySegment sqOff = io_uring_params.sq_off(params);
        MemorySegment cqOff = io_uring_params.cq_off(params);
        this.ringFd = fd;

        // The kernel describes the ring layout by offsets, and the rings live in kernel memory that
        // we map at fixed offsets of the ring fd: IORING_OFF_SQ_RING, _CQ_RING and _SQES. Since
        // 5.4 (IORING_FEAT_SINGLE_MMAP) both rings are one allocation, mapped once.
        long sqRingSize = io_sqring_offsets.array(sqOff) + 4L * sqEntries;
        long cqRingSize = io_cqring_offsets.cqes(cqOff) + (long) CQE_SIZE * cqEntries;
        boolean singleMmap = (features & Uapi.IORING_FEAT_SINGLE_MMAP()) != 0;
        if (singleMmap) {
            sqRingSize = cqRingSize = Math.max(sqRingSize, cqRingSize);
        }
        Arena confined = Arena.ofConfined();
        try {
            this.sqRing = map(confined, fd, sqRingSize, Uapi.IORING_OFF_SQ_RING(), "SQ ring");
            this.cqRing = singleMmap ? sqRing : map(confined, fd, cqRingSize, Uapi.IORING_OFF_CQ_RING(), "CQ ring");
            this.sqes = map(confined, fd, (long) SQE_SIZE * sqEntries, Uapi.IORING_OFF_SQES(), "SQE array");
            this.extArg = confined.allocate(io_uring_getevents_arg.layout());
            this.timeout = confined.allocate(__kernel_timespec.layout());
        } catch (IoUringException | RuntimeException | Error e) {
            confined.close(); // unmaps whatever was mapped
            Libc.close(fd);
            throw e;
        }
        this.arena = confined;
        this.owner = Thread.currentThread();
        this.sqHead = io_sqring_offsets.head(sqOff);
        this.sqTail = io_sqring_offsets.tail(sqOff);
        this.sqFlags = io_sqring_offsets.flags(sqOff);
        this.sqMask = sqRing.get(JAVA_INT, io_sqring_offsets.ring_mask(sqOff));
        this.cqHead = io_cqring_offsets.head(cqOff);
        this.cqTail = io_cqring_offsets.tail(cqOff);
        this.cqes = io_cqring_offsets.cqes(cqOff);
        this.cqMask = cqRing.get(JAVA_INT, io_cqring_offsets.ring_mask(cqOff));
        // The SQ array maps ring slots to SQE indices. Slot i always holds SQE i, so the identity
        // is filled once (as liburing does) instead of on every submission.
        long array = io_sqring_offsets.array(sqOff);
        for (int i = 0; i < sqEntries; i++) sqRing.set(JAVA_INT, array + 4L * i, i);
        this.localSqTail = (int) INT.getAcquire(sqRing, sqTail);
        this.localCqHead = (int) INT.getAcquire(cqRing, cqHead);
    }

    @SuppressWarnings("restricted") // reinterpret: the size is the one the kernel mapped
    private static MemorySegment map(Arena arena, int fd, long size, long offset, String what) throws IoUringException {
        long addr = Libc.mmap(0, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        if (addr < 0 && addr > -4096) throw new IoUringException("mmap", what, (int) -addr, null);
        // The mapping belongs to the arena: closing it unmaps, and any later access throws instead of faulting.
        return MemorySegment.ofAddress(addr).reinterpret(size, arena, s -> Libc.munmap(addr, size));
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

    /** SQ size (a power of two). */
    public int sqEntries() {
        return sqEntries;
    }

    /** CQ size (a power of two). */
    public int cqEntries() {
        return cqEntries;
    }

    /** The io_uring_enter system calls this ring made so far (any thread may read it). */
    public long enters() {
        return enters;
    }

    /** Whether a completion has {@link #CQE_F_MORE}: a multishot operation stays armed. */
    public static boolean hasMore(int cqeFlags) {
        return (cqeFlags & CQE_F_MORE) != 0;
    }

    // ---------------------------------------------------------------- preparation

    /** Queues an SQE with the given fields; every other field is zero. */
    private void prepare(int opcode, int fd, long addr, int len, long offset, int opFlags, long userData)
            throws IoUringException {
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
     * Queues {@code IORING_OP_READ} of {@code buf.byteSize()} bytes at {@code offset} (pipes,
     * sockets and the fault fd ignore it); completes with the byte count or {@code -errno}.
     *
     * @throws IllegalArgumentException for heap memory or a buffer over 2 GiB
     */
    public void read(int fd, MemorySegment buf, long offset, long userData) throws IoUringException {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("io_uring needs native memory (the kernel keeps the address), not " + buf);
        }
        if (buf.byteSize() > Integer.MAX_VALUE) throw new IllegalArgumentException("buffer larger than 2 GiB: " + buf.byteSize());
        prepare(OP_READ, fd, buf.address(), (int) buf.byteSize(), offset, 0, userData);
    }

    /**
     * Queues {@code IORING_OP_WRITE} of the first {@code length} bytes of {@code buf} at
     * {@code offset}; completes with the byte count or {@code -errno}. The buffer must stay
     * unchanged until the completion arrives.
     *
     * @throws IllegalArgumentException for heap memory or a length outside the buffer or over 2 GiB
     */
    public void write(int fd, MemorySegment buf, long length, long offset, long userData) throws IoUringException {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("io_uring needs native memory (the kernel keeps the address), not " + buf);
        }
        if (length < 0 || length > buf.byteSize() || length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("length " + length + " outside the buffer of " + buf.byteSize() + " bytes or over 2 GiB");
        }
        prepare(OP_WRITE, fd, buf.address(), (int) length, offset, 0, userData);
    }

    /**
     * Queues a one-shot {@code IORING_OP_POLL_ADD}: the kernel checks readiness when it takes the
     * SQE and completes at once if {@code events} are ready, otherwise on the next wake-up that
     * makes them ready; one completion.
     */
    public void pollAdd(int fd, int events, long userData) throws IoUringException {
        prepare(OP_POLL_ADD, fd, 0, 0, 0, events, userData);
    }

    /**
     * Queues a multishot {@code IORING_OP_POLL_ADD} ({@code IORING_POLL_ADD_MULTI}, 5.13+): a
     * completion on every readiness event, each with {@link #CQE_F_MORE} while the poll stays armed.
     * The last completion has no {@code CQE_F_MORE}, e.g. {@code -ECANCELED} after {@link #cancel};
     * re-arm if it ended otherwise.
     *
     * @param events poll events, e.g. {@link Libc#POLLIN}
     */
    public void pollAddMultishot(int fd, int events, long userData) throws IoUringException {
        // Multishot is requested in sqe->len, not in the poll events.
        prepare(OP_POLL_ADD, fd, 0, Uapi.IORING_POLL_ADD_MULTI(), 0, events, userData);
    }

    /**
     * Queues {@code IORING_OP_ASYNC_CANCEL} of the operation submitted with {@code targetUserData}.
     * The cancel completes with 0, {@code -ENOENT} or {@code -EALREADY}; the target with
     * {@code -ECANCELED} (or its own result if it was too late).
     */
    public void cancel(long targetUserData, long userData) throws IoUringException {
        prepare(OP_ASYNC_CANCEL, -1, targetUserData, 0, 0, 0, userData);
    }

    /** The byte offset of a zeroed free SQE. Submits the queued SQEs first when the SQ is full. */
    private long nextSqe() throws IoUringException {
        ensureOpen("io_uring_enter");
        // Acquire: the kernel advances the head after it has read the SQEs; a slot is reusable only then.
        int head = (int) INT.getAcquire(sqRing, sqHead);
        if (localSqTail - head >= sqEntries) {
            submit();
            head = (int) INT.getAcquire(sqRing, sqHead);
            if (localSqTail - head >= sqEntries) {
                throw new IoUringException("io_uring_enter", describe(), EBUSY,
                        "the submission queue is full and the kernel consumed none of its " + sqEntries + " SQEs");
            }
        }
        long sqe = (long) (localSqTail & sqMask) * SQE_SIZE;
        for (int i = 0; i < SQE_SIZE; i += 8) sqes.set(JAVA_LONG, sqe + i, 0L); // a reused slot keeps old fields
        localSqTail++;
        return sqe;
    }

    // ---------------------------------------------------------------- submission

    /** Submits the queued SQEs ({@code io_uring_enter} without waiting; no system call if none). */
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
     * error. Needs {@code IORING_FEAT_EXT_ARG} (Linux 5.11+).
     */
    public int submitAndWait(int minComplete, long timeoutNanos) throws IoUringException {
        if (timeoutNanos < 0) throw new IllegalArgumentException("negative timeout: " + timeoutNanos);
        return enter(minComplete, timeoutNanos);
    }

    private int enter(int minComplete, long timeoutNanos) throws IoUringException {
        ensureOpen("io_uring_enter");
        if (minComplete < 0) throw new IllegalArgumentException("negative minComplete: " + minComplete);
        // Release: the SQE contents written with plain stores are visible to the kernel before the new tail.
        INT.setRelease(sqRing, sqTail, localSqTail);
        int toSubmit = localSqTail - (int) INT.getAcquire(sqRing, sqHead);
        int flags = 0;
        long arg = 0, argSize = 0;
        boolean wait = minComplete > 0 || timeoutNanos >= 0;
        if (wait) flags |= ENTER_GETEVENTS;
        if (timeoutNanos >= 0) {
            if ((features & Uapi.IORING_FEAT_EXT_ARG()) == 0) {
                throw new IoUringException("io_uring_enter", describe(), EOPNOTSUPP,
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
        enters++;
        long r = Libc.syscall(NR_ENTER, ringFd, toSubmit, minComplete, flags, arg, argSize);
        if (r < 0) {
            // A wait that ended by signal or timeout is not a failure (only returned when nothing
            // was submitted; otherwise the kernel returns the submitted count).
            if (wait && (r == -EINTR || r == -ETIME)) return 0;
            throw new IoUringException("io_uring_enter", describe(), (int) -r, null);
        }
        return (int) r;
    }

    // ---------------------------------------------------------------- completion

    /** Number of completions ready in the CQ (without flushing an overflow). */
    int completionsReady() {
        return (int) INT.getAcquire(cqRing, cqTail) - localCqHead;
    }

    /**
     * Passes every ready completion to {@code handler}, in order, and frees their CQ slots. Makes no
     * system call unless the CQ is empty while the kernel holds overflowed completions. If the
     * handler throws, the completions handed over so far (including the one that threw) are
     * consumed and the exception propagates. The handler may prepare new operations but must not
     * call this method.
     *
     * @return the number of completions processed
     */
    public int processCompletions(CompletionHandler handler) throws IoUringException {
        ensureOpen("io_uring_enter");
        if (inHandler) throw new IllegalStateException("processCompletions called from a completion handler");
        // Acquire: the kernel writes a CQE, then releases the tail.
        int tail = (int) INT.getAcquire(cqRing, cqTail);
        int head = localCqHead;
        if (head == tail && (((int) INT.getAcquire(sqRing, sqFlags)) & (SQ_CQ_OVERFLOW | SQ_TASKRUN)) != 0) {
            // Completions that did not fit are kept by the kernel (IORING_FEAT_NODROP); an
            // io_uring_enter(GETEVENTS) moves them into the CQ.
            enters++;
            long r = Libc.syscall(NR_ENTER, ringFd, 0, 0, ENTER_GETEVENTS, 0, 0);
            if (r < 0 && r != -EINTR) throw new IoUringException("io_uring_enter", describe(), (int) -r, null);
            tail = (int) INT.getAcquire(cqRing, cqTail);
        }
        int n = 0;
        inHandler = true;
        try {
            while (head != tail) {
                long cqe = cqes + (long) (head & cqMask) * CQE_SIZE;
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

    // ---------------------------------------------------------------- lifecycle

    private void ensureOpen(String operation) throws IoUringException {
        if (closed.get()) throw new IoUringException(operation, describe(), EBADF, "the ring is closed");
    }

    private String describe() {
        return "ring=" + ringFd;
    }

    /** Whether the ring has been closed. */
    public boolean isClosed() {
        return closed.get();
    }

    /**
     * Unmaps the rings and closes the ring fd. Idempotent; does not wait for operations in flight
     * (the kernel cancels them). Later calls on this ring throw {@link IoUringException}
     * ({@code EBADF}, "the ring is closed").
     *
     * @throws IllegalStateException on a thread other than the one that opened the ring (which
     *         stays open)
     */
    @Override
    public void close() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException(this + " belongs to thread " + owner.getName() + ", which must close it");
        }
        if (!closed.compareAndSet(false, true)) return;
        try {
            arena.close(); // munmap of the three mappings
        } finally {
            Libc.close(ringFd);
        }
    }

    @Override
    public String toString() {
        return "IoUring[fd=" + ringFd + ", sq=" + sqEntries + ", cq=" + cqEntries + (closed.get() ? ", closed" : "") + "]";
    }
}
