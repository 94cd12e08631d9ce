package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.HandleState;
import io.github.iommufd4j.internal.IommufdBackend;
import io.github.iommufd4j.internal.Jfr;
import io.github.iommufd4j.internal.NativeBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The one path from a typed method to the kernel. A call holds the handles involved busy for
 * exactly its duration, owns the argument struct, checks and registers the user memory the
 * kernel will touch, issues the ioctl (or read/write) and builds the error text only when the
 * kernel refuses:
 *
 * <pre>{@code
 * try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_GET_DIRTY_BITMAP")) {
 *     MemorySegment s = k.struct(iommu_hwpt_get_dirty_bitmap.sizeof());
 *     iommu_hwpt_get_dirty_bitmap.data(s, k.kernelWrites(bitmap, bytes, "bitmap"));
 *     ...
 *     k.ioctl(Command.HWPT_GET_DIRTY_BITMAP, HwPagetable::dirtyArgs);
 * }
 * }</pre>
 *
 * A failure anywhere (a closed handle, bad memory, the kernel's errno, a bug) releases everything
 * in {@link #close()}: no handle stays busy, so no close can wait forever. Calls are per thread
 * and reused (a small stack, for calls made inside calls), so the hot paths allocate nothing.
 * Every failure of a kernel call is built by {@link #failed}, which also records it as a JFR
 * {@code io.github.iommufd4j.IoctlFailure} event while a recording asks for it.
 */
final class KernelCall implements AutoCloseable {
    /** Formats a failed call's arguments from its struct, only when it failed. */
    @FunctionalInterface
    interface Args {
        String of(MemorySegment struct);
    }

    private static final long STRUCT_SIZE = 512;
    private static final MemorySegment ZEROS = Arena.global().allocate(STRUCT_SIZE);
    private static final int MAX_HELD = 4, MAX_MEMORY = 4;
    private static final ThreadLocal<Stack> STACK = ThreadLocal.withInitial(Stack::new);

    /** This thread's calls in progress, innermost last. */
    static final class Stack {
        /** The owner: a stack read from a handle's cache (a data race) is used only by this thread (a final field: seen as set). */
        final Thread thread = Thread.currentThread();
        KernelCall[] calls = new KernelCall[4];
        int depth;

        KernelCall push() {
            if (depth == calls.length) calls = Arrays.copyOf(calls, depth * 2);
            KernelCall c = calls[depth];
            if (c == null) c = calls[depth] = new KernelCall(this);
            depth++;
            c.open = true;
            return c;
        }
    }

    private final Stack stack;
    private final MemorySegment struct;
    /** Where the native backend's downcalls capture errno: this thread's own, no per-call lookup. */
    private final MemorySegment errno;
    private final HandleState[] held = new HandleState[MAX_HELD];
    private final MemorySegment[] memory = new MemorySegment[MAX_MEMORY];
    /** {@code memory[0, nRegistered)} are registered with the backend; the rest go with the next kernel call. */
    private int nHeld, nMemory, nRegistered;
    private boolean open;
    /** Whether the backend takes registrations of user memory (the native one does not need them). */
    private boolean registers;
    private Iommufd iommufd;
    private String op;

    private KernelCall(Stack stack) {
        this.stack = stack;
        Arena arena = Arena.ofAuto();
        struct = arena.allocate(STRUCT_SIZE, 16);
        errno = Libc.errnoBuffer(arena);
    }

    /**
     * The current thread's call stack: the one cached in {@code h} when this thread made the last
     * call on it (the usual case: one thread drives a handle), else the thread-local one, which
     * then becomes the cached one.
     */
    private static Stack stack(Handle h) {
        Stack s = h.callStack;
        if (s != null && s.thread == Thread.currentThread()) return s;
        return h.callStack = STACK.get();
    }

    /** A call on the iommufd itself (holds it busy). */
    static KernelCall begin(Iommufd iommufd, String op) throws IommufdException {
        KernelCall c = STACK.get().push();
        c.start(iommufd, op);
        if (!iommufd.state().enter()) {
            c.close();
            throw IommufdException.closed(op, "iommufd");
        }
        c.held[c.nHeld++] = iommufd.state();
        return c;
    }

    /** A call on a handle's object (holds the handle busy). */
    static KernelCall begin(Handle h, String op) throws IommufdException {
        KernelCall c = stack(h).push();
        c.start(h.iommufd, op);
        return c.hold(h);
    }

    /**
     * Sets what the call is about. A frame keeps them after it ends (close() does not clear
     * them): the next call at this depth is usually the same operation on the same iommufd, and a
     * reference compared is cheaper than one stored (a store into the heap runs the GC's barrier).
     */
    private void start(Iommufd iommufd, String op) {
        if (this.iommufd != iommufd) {
            this.iommufd = iommufd;
            registers = !(iommufd.raw() instanceof NativeBackend); // the kernel pins memory itself
        }
        if (this.op != op) this.op = op;
    }

    /** Holds another handle busy for the rest of the call; a closed one ends the call. */
    KernelCall hold(Handle h) throws IommufdException {
        String name = op;
        if (nHeld == MAX_HELD) {
            close();
            throw new IllegalStateException(name + ": too many handles in one call");
        }
        if (!h.state.enter()) {
            close();
            throw IommufdException.closed(name, h.describe());
        }
        HandleState st = h.state;
        if (held[nHeld] != st) held[nHeld] = st; // as start(): kept after the call
        nHeld++;
        return this;
    }

    /**
     * Holds the handle of the bound device with this id busy, if this iommufd tracks one: a call
     * naming a device by id must not race the device's destroy (the kernel's destroy would then
     * sleep out its 60 s wait for the call, docs/kernel-behaviour.md §2.3). A raw id no handle
     * tracks holds nothing.
     */
    KernelCall holdDevice(int deviceId) throws IommufdException {
        Handle d = iommufd.deviceHandle(deviceId);
        return d == null ? this : hold(d);
    }

    /** The operation's name, e.g. {@code IOMMU_IOAS_MAP}. */
    String op() {
        return op;
    }

    IommufdBackend backend() {
        return iommufd.raw();
    }

    /** This call's argument struct: {@code size} bytes zeroed, the size (or argsz) field set. */
    MemorySegment struct(long size) {
        MemorySegment.copy(ZEROS, 0, struct, 0, size);
        struct.set(JAVA_INT, 0, (int) size);
        return struct;
    }

    /**
     * This call's argument struct with only the size field set: for a hot path that sets every
     * other field of the struct itself (what an earlier call left there is not zeroed).
     */
    MemorySegment structSetByCaller(long size) {
        struct.set(JAVA_INT, 0, (int) size);
        return struct;
    }

    /**
     * Memory the kernel reads, by address: checked (not null, alive, native, at least
     * {@code bytes} long) and registered with the backend from this call's next kernel call
     * until the call ends. Returns its address. An empty segment with {@code bytes == 0} passes
     * as it is (e.g. no driver data).
     */
    long kernelReads(MemorySegment m, long bytes, String what) {
        return user(m, bytes, false, what);
    }

    /** Memory the kernel writes: as {@link #kernelReads}, and it must be writable. */
    long kernelWrites(MemorySegment m, long bytes, String what) {
        return user(m, bytes, true, what);
    }

    private long user(MemorySegment m, long bytes, boolean written, String what) {
        check(op, m, bytes, written, what);
        if (m.byteSize() == 0 || !registers) return m.address();
        if (nMemory == MAX_MEMORY) throw new IllegalStateException(op + ": too many user buffers in one call");
        memory[nMemory++] = m; // registered with the kernel call itself (one step for the software backend)
        return m.address();
    }

    /** The checks of {@link #kernelReads}/{@link #kernelWrites}, for memory checked before a call. */
    static void check(String op, MemorySegment m, long bytes, boolean written, String what) {
        if (m == null) throw new NullPointerException(op + ": " + what + " is null"); // no message supplier to build per call
        if (!m.scope().isAlive()) throw new IllegalStateException(op + ": " + what + ": the segment's arena is closed");
        if (m.byteSize() == 0 && bytes == 0) return;
        if (!m.isNative()) throw new IllegalArgumentException(op + ": " + what + " must be native memory, not a heap segment");
        if (m.byteSize() < bytes) {
            throw new IllegalArgumentException(op + ": " + what + " holds " + m.byteSize() + " bytes; the kernel "
                    + (written ? "writes " : "reads ") + bytes);
        }
        if (written && m.isReadOnly()) throw new IllegalArgumentException(op + ": " + what + " is read-only; the kernel writes it");
    }

    /** Registers the memory not yet registered (before a backend call that does not take it along). */
    private void registerPending() {
        for (; nRegistered < nMemory; nRegistered++) iommufd.raw().registerMemory(memory[nRegistered]);
    }

    /** The registered memory stays registered after the call: a mapping now owns it. */
    void keepMemory() {
        registerPending();
        for (int i = 0; i < nMemory; i++) memory[i] = null;
        nMemory = nRegistered = 0;
    }

    /** ioctl(iommufd, command, this call's struct): the result, or the typed failure. */
    int ioctl(Command c, Args args) throws IommufdException {
        int from = nRegistered;
        nRegistered = nMemory; // registered by the call below, also when it fails
        // The struct is this frame's own (alive as long as the thread's call stack), as the call
        // with a caller's errno buffer requires.
        int rc = iommufd.raw().ioctl(c.request(), struct, memory, from, nMemory, errno);
        if (rc < 0) throw failed(c, args.of(struct), rc);
        return rc;
    }

    /** An ioctl on the iommufd that is not an iommufd command (the VFIO compatibility ioctls). */
    int ioctl(long request, MemorySegment arg, Args args) throws IommufdException {
        registerPending();
        int rc = iommufd.raw().ioctl(request, arg);
        if (rc < 0) throw failed(args.of(arg), -rc);
        return rc;
    }

    /** An ioctl on another file descriptor this call's handle owns (a VFIO device cdev). */
    int ioctlOn(int fd, long request, MemorySegment arg, Args args) throws IommufdException {
        registerPending();
        int rc = io.github.iommufd4j.bindings.Libc.ioctl(fd, request, arg);
        if (rc < 0) throw failed(args.of(arg), -rc);
        return rc;
    }

    /**
     * The typed failure of iommufd command {@code c} ({@code rc}: the negative errno; ENOTTY is
     * "unsupported by this kernel"), recorded for JFR.
     */
    IommufdException failed(Command c, String args, int rc) {
        return recorded(rc == -ENOTTY ? new UnsupportedCommandException(c, args) : new IommufdException(c.ioctlName(), args, -rc));
    }

    /** The typed failure of this call's operation with {@code errno}, recorded for JFR. */
    IommufdException failed(String args, int errno) {
        return recorded(new IommufdException(op, args, errno));
    }

    private static IommufdException recorded(IommufdException e) {
        if (Jfr.on()) IoctlFailureEvent.record(e); // no JFR set-up on a first failure without a recording
        return e;
    }

    /** ioctl without the exception: the result or {@code -errno} (for calls that look at the errno). */
    int rawIoctl(long request, MemorySegment arg) {
        registerPending();
        return iommufd.raw().ioctl(request, arg);
    }

    /** read(2) of a file descriptor the backend handed out: bytes read, or the typed failure. */
    long read(int fd, MemorySegment buffer, long count, Handle owner) throws IommufdException {
        registerPending();
        long n = iommufd.raw().read(fd, buffer, count);
        if (n < 0) throw failed(owner.describe() + ", count=" + count, (int) -n);
        return n;
    }

    /** write(2) of a file descriptor the backend handed out: bytes written, or the typed failure. */
    long write(int fd, MemorySegment buffer, long count, Handle owner) throws IommufdException {
        registerPending();
        long n = iommufd.raw().write(fd, buffer, count);
        if (n < 0) throw failed(owner.describe() + ", count=" + count, (int) -n);
        return n;
    }

    /** Ends the call: unregisters its memory, releases its handles (innermost first). */
    @Override
    public void close() {
        if (!open) return; // a failed hold() ended the call already
        open = false;
        for (int i = nMemory - 1; i >= 0; i--) {
            if (i < nRegistered) iommufd.raw().unregisterMemory(memory[i]);
            memory[i] = null;
        }
        nMemory = nRegistered = 0;
        for (int i = nHeld - 1; i >= 0; i--) held[i].exit(); // held[], iommufd and op stay, see start()
        nHeld = 0;
        stack.depth--;
    }

    /** How many calls of the current thread hold {@code s} (a thread closing what it holds must not wait for itself). */
    static int heldByCurrentThread(HandleState s) {
        Stack st = STACK.get();
        int n = 0;
        for (int d = 0; d < st.depth; d++) {
            KernelCall c = st.calls[d];
            for (int i = 0; i < c.nHeld; i++) if (c.held[i] == s) n++;
        }
        return n;
    }

    /** Errno values the typed methods compare with, looked up once. */
    static final int ENOTTY = Errno.value("ENOTTY"), EMSGSIZE = Errno.value("EMSGSIZE");
}
