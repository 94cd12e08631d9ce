package io.github.iommufd4j.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc calls iommufd4j makes, with {@code errno} captured per call.
 *
 * <p>jextract's bindings cannot capture {@code errno}, which is only meaningful right after the
 * call on the same thread; so these few calls are bound by hand with
 * {@link Linker.Option#captureCallState(String...)}. Every method follows the kernel's
 * convention: it returns the call's result when it succeeded and {@code -errno} when it failed.
 * Nothing is allocated per call: the capture buffer is per thread. The {@code ...NoErrno}
 * variants, for callers that need only success or failure, capture nothing.
 */
public final class Libc {
    private Libc() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MemoryLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** One capture buffer per thread: errno is per thread, and this keeps calls allocation-free. */
    private static final ThreadLocal<MemorySegment> ERRNO_BUFFER =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    // Each handle is bound in a holder class of its own, on first use: binding all of them up
    // front cost about 1 G instructions at start-up in a guest (QEMU instruction counting), most
    // of the time to a fresh JVM's first map (README "Start-up and warm-up"). A holder's field is
    // still a static final constant, so a bound handle is inlined as before.
    private static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... options) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option[] all = new Linker.Option[options.length + 1];
        all[0] = CAPTURE_ERRNO;
        System.arraycopy(options, 0, all, 1, options.length);
        return LINKER.downcallHandle(symbol, fd, all);
    }

    // ioctl(int, unsigned long, ...) and syscall(long, ...) are variadic: the variadic arguments
    // are passed as the ABI passes them (pointer or long).
    private static final class IOCTL_PTR { static final MethodHandle H = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2)); }
    private static final class IOCTL_LONG { static final MethodHandle H = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(2)); }
    private static final class SYSCALL6 { static final MethodHandle H = bind("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.firstVariadicArg(1)); }
    private static final class OPEN { static final MethodHandle H = bind("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2)); }
    private static final class CLOSE { static final MethodHandle H = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT)); }
    private static final class READ { static final MethodHandle H = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class WRITE { static final MethodHandle H = bind("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class PREAD { static final MethodHandle H = bind("pread",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG)); }
    private static final class PWRITE { static final MethodHandle H = bind("pwrite",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG)); }
    private static final class MMAP { static final MethodHandle H = bind("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG)); }
    private static final class MUNMAP { static final MethodHandle H = bind("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class MADVISE { static final MethodHandle H = bind("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)); }
    private static final class POLL { static final MethodHandle H = bind("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)); }
    // Without errno capture: a capturing downcall slices the capture buffer on every call, and
    // where a call site is too cold for the JIT to inline the whole downcall that slice (about
    // 40 bytes) is allocated each time. For callers that need only success or failure.
    private static final class POLL_NO_CAPTURE { static final MethodHandle H = bindNoCapture("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)); }
    private static final class READ_NO_CAPTURE { static final MethodHandle H = bindNoCapture("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class WRITE_NO_CAPTURE { static final MethodHandle H = bindNoCapture("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class IOCTL_PTR_NO_CAPTURE { static final MethodHandle H = bindNoCapture("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2)); }

    private static MethodHandle bindNoCapture(String name, FunctionDescriptor fd, Linker.Option... options) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name)), fd, options);
    }
    private static final class EVENTFD { static final MethodHandle H = bind("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT)); }
    private static final class PIPE2 { static final MethodHandle H = bind("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class SOCKETPAIR { static final MethodHandle H = bind("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS)); }
    private static final class MEMFD_CREATE { static final MethodHandle H = bind("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class FTRUNCATE { static final MethodHandle H = bind("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG)); }
    private static final class FCNTL { static final MethodHandle H = bind("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2)); }
    private static final class GETTID { static final MethodHandle H = bind("gettid", FunctionDescriptor.of(JAVA_INT)); }
    // UNIX domain sockets, for passing file descriptors (SCM_RIGHTS).
    private static final class SOCKET { static final MethodHandle H = bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT)); }
    private static final class BIND { static final MethodHandle H = bind("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class LISTEN { static final MethodHandle H = bind("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT)); }
    private static final class ACCEPT4 { static final MethodHandle H = bind("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT)); }
    private static final class CONNECT { static final MethodHandle H = bind("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class SHUTDOWN { static final MethodHandle H = bind("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT)); }
    private static final class SENDMSG { static final MethodHandle H = bind("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class RECVMSG { static final MethodHandle H = bind("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class GETSOCKOPT { static final MethodHandle H = bind("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS)); }

    // Values from the kernel/glibc ABI on x86-64 (the ABI test checks them against the headers).
    /** open(2) flags. */
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    /** fcntl(2) commands. */
    public static final int F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030;
    /** mmap(2) protections. */
    public static final int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    /** mmap(2) flags. */
    public static final int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;
    /** madvise(2) advice: transparent huge pages on or off for a range. */
    public static final int MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15;
    /** poll(2) events and revents bits. */
    public static final short POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 16, POLLNVAL = 32;
    /** eventfd(2) flags. */
    public static final int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800, EFD_SEMAPHORE = 1;
    /** socket(2) and socketpair(2) domains, types and type flags. */
    public static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000;
    /** memfd_create(2) flag: the fd is close-on-exec. */
    public static final int MFD_CLOEXEC = 1;
    // Sockets: the same numbers on x86-64 and aarch64 (asm-generic socket options, LP64 structs).
    /** socket(2) type flag: non-blocking. */
    public static final int SOCK_NONBLOCK = 0x800;
    /** Socket option level and names (getsockopt(2)), and the control message type that carries descriptors. */
    public static final int SOL_SOCKET = 1, SO_TYPE = 3, SO_PEERCRED = 17, SO_DOMAIN = 39, SCM_RIGHTS = 1;
    /** sendmsg(2) and recvmsg(2) flags. */
    public static final int MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000,
            MSG_CMSG_CLOEXEC = 0x40000000;
    /** shutdown(2) directions. */
    public static final int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

    private static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    private static RuntimeException unexpected(Throwable t) {
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /**
     * {@code ioctl(fd, request, arg)}.
     *
     * @param fd      the file descriptor
     * @param request the request number
     * @param arg     the argument struct (native memory the kernel reads and writes)
     * @return the result, or {@code -errno}
     */
    public static int ioctl(int fd, long request, MemorySegment arg) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) IOCTL_PTR.H.invokeExact(c, fd, request, arg);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * A buffer for the {@code errno} a call captures, for callers that keep one per thread
     * themselves (the {@code ioctl} overloads taking it skip the per-thread lookup).
     *
     * @param arena where to allocate it
     * @return a capture buffer
     */
    public static MemorySegment errnoBuffer(Arena arena) {
        return arena.allocate(CAPTURE);
    }

    /**
     * {@code ioctl(fd, request, arg)} with the argument passed by address and {@code errno}
     * captured into {@code capture}, a buffer from {@link #errnoBuffer} that only the calling
     * thread uses. Unlike a segment argument, an address does not keep its memory alive or open:
     * the caller must (for memory it owns, that costs nothing per call).
     *
     * @param capture the calling thread's capture buffer
     * @param fd      the file descriptor
     * @param request the request number
     * @param arg     the argument struct's address (native memory the kernel reads and writes)
     * @return the result, or {@code -errno}
     */
    public static int ioctl(MemorySegment capture, int fd, long request, long arg) {
        try {
            int r = (int) IOCTL_LONG.H.invokeExact(capture, fd, request, arg);
            return r < 0 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code ioctl(fd, request, value)} for requests that take an integer (or nothing).
     *
     * @param fd      the file descriptor
     * @param request the request number
     * @param value   the integer argument (0 for none)
     * @return the result, or {@code -errno}
     */
    public static int ioctl(int fd, long request, long value) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) IOCTL_LONG.H.invokeExact(c, fd, request, value);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code syscall(nr, a1..a6)}, for system calls glibc does not wrap (e.g. io_uring's).
     *
     * @param nr the system call number
     * @param a1 argument 1
     * @param a2 argument 2
     * @param a3 argument 3
     * @param a4 argument 4
     * @param a5 argument 5
     * @param a6 argument 6
     * @return the result, or {@code -errno}
     */
    public static long syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) SYSCALL6.H.invokeExact(c, nr, a1, a2, a3, a4, a5, a6);
            return r == -1 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code open(path, flags, mode)}.
     *
     * @param path  the file's path
     * @param flags e.g. {@link #O_RDWR} | {@link #O_CLOEXEC}
     * @param mode  the permissions of a created file
     * @return a file descriptor, owned by the caller, or {@code -errno}
     */
    public static int open(String path, int flags, int mode) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = ERRNO_BUFFER.get();
            int r = (int) OPEN.H.invokeExact(c, arena.allocateFrom(path), flags, mode);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code close(fd)}. Close a descriptor once: its number may be reused at once.
     *
     * @param fd the file descriptor
     * @return 0, or {@code -errno}
     */
    public static int close(int fd) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) CLOSE.H.invokeExact(c, fd);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code read(fd, buf, count)}.
     *
     * @param fd    the file descriptor
     * @param buf   native memory, at least {@code count} bytes
     * @param count the most bytes to read
     * @return bytes read, or {@code -errno}
     */
    public static long read(int fd, MemorySegment buf, long count) {
        checkBounds(buf, 0, count);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) READ.H.invokeExact(c, fd, buf, count);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code write(fd, buf, count)}.
     *
     * @param fd    the file descriptor
     * @param buf   native memory, at least {@code count} bytes
     * @param count bytes to write
     * @return bytes written, or {@code -errno}
     */
    public static long write(int fd, MemorySegment buf, long count) {
        checkBounds(buf, 0, count);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) WRITE.H.invokeExact(c, fd, buf, count);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code read(fd, buf, count)} without errno capture.
     *
     * @param fd    the file descriptor
     * @param buf   native memory, at least {@code count} bytes
     * @param count the most bytes to read
     * @return bytes read, or -1 on failure
     */
    public static long readNoErrno(int fd, MemorySegment buf, long count) {
        checkBounds(buf, 0, count);
        try {
            return (long) READ_NO_CAPTURE.H.invokeExact(fd, buf, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code write(fd, buf, count)} without errno capture.
     *
     * @param fd    the file descriptor
     * @param buf   native memory, at least {@code count} bytes
     * @param count bytes to write
     * @return bytes written, or -1 on failure
     */
    public static long writeNoErrno(int fd, MemorySegment buf, long count) {
        checkBounds(buf, 0, count);
        try {
            return (long) WRITE_NO_CAPTURE.H.invokeExact(fd, buf, count);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code ioctl(fd, request, arg)} without errno capture.
     *
     * @param fd      the file descriptor
     * @param request the request number
     * @param arg     the argument struct
     * @return the result, or -1 on failure
     */
    public static int ioctlNoErrno(int fd, long request, MemorySegment arg) {
        try {
            return (int) IOCTL_PTR_NO_CAPTURE.H.invokeExact(fd, request, arg);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code pread(fd, buf, count, offset)}.
     *
     * @param fd     the file descriptor
     * @param buf    native memory, at least {@code count} bytes
     * @param count  the most bytes to read
     * @param offset the file offset to read at
     * @return bytes read, or {@code -errno}
     */
    public static long pread(int fd, MemorySegment buf, long count, long offset) {
        checkBounds(buf, 0, count);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) PREAD.H.invokeExact(c, fd, buf, count, offset);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code pwrite(fd, buf, count, offset)}.
     *
     * @param fd     the file descriptor
     * @param buf    native memory, at least {@code count} bytes
     * @param count  bytes to write
     * @param offset the file offset to write at
     * @return bytes written, or {@code -errno}
     */
    public static long pwrite(int fd, MemorySegment buf, long count, long offset) {
        checkBounds(buf, 0, count);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) PWRITE.H.invokeExact(c, fd, buf, count, offset);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code mmap(addr, length, prot, flags, fd, offset)}. The caller unmaps it ({@link #munmap}).
     *
     * @param addr   the address hint (0: any), or the address with {@link #MAP_FIXED}
     * @param length bytes to map
     * @param prot   {@link #PROT_READ} | {@link #PROT_WRITE}
     * @param flags  e.g. {@link #MAP_SHARED}
     * @param fd     the file to map, or -1 for anonymous memory
     * @param offset the offset in the file (page aligned)
     * @return the mapped address, or {@code -errno} (mmap never returns a small negative address)
     */
    public static long mmap(long addr, long length, int prot, int flags, int fd, long offset) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            MemorySegment r = (MemorySegment) MMAP.H.invokeExact(c, MemorySegment.ofAddress(addr), length, prot, flags, fd, offset);
            return r.address() == -1L ? -errno(c) : r.address();
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code munmap(addr, length)}.
     *
     * @param addr   the mapping's address
     * @param length its length in bytes
     * @return 0, or {@code -errno}
     */
    public static int munmap(long addr, long length) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) MUNMAP.H.invokeExact(c, MemorySegment.ofAddress(addr), length);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code madvise(addr, length, advice)}.
     *
     * @param addr   the range's address (page aligned)
     * @param length its length in bytes
     * @param advice e.g. {@link #MADV_POPULATE_WRITE}
     * @return 0, or {@code -errno}
     */
    public static int madvise(long addr, long length, int advice) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) MADVISE.H.invokeExact(c, MemorySegment.ofAddress(addr), length, advice);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code poll(fds, nfds, timeoutMillis)} over an array of {@code struct pollfd} (8 bytes each).
     * The first call captures no errno (allocation-free whatever the JIT inlines); poll only
     * reports readiness, so after a failure the same call is repeated with capture to learn errno
     * (a signal that interrupted the first makes the second wait again, as a retry on EINTR would).
     *
     * @param fds           native memory holding {@code nfds} {@link #POLLFD}s; the kernel writes
     *                      their {@code revents}
     * @param nfds          the number of entries
     * @param timeoutMillis the longest wait in milliseconds (-1: forever, 0: just look)
     * @return the number of entries with events, 0 on timeout, or {@code -errno}
     */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) {
        checkBounds(fds, 0, nfds * 8);
        try {
            int r = (int) POLL_NO_CAPTURE.H.invokeExact(fds, nfds, timeoutMillis);
            if (r >= 0) return r;
            MemorySegment c = ERRNO_BUFFER.get();
            r = (int) POLL.H.invokeExact(c, fds, nfds, timeoutMillis);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code eventfd(initval, flags)}: a counter fd, e.g. to wake a thread waiting in poll.
     *
     * @param initval the initial count
     * @param flags   e.g. {@link #EFD_CLOEXEC} | {@link #EFD_NONBLOCK}
     * @return a file descriptor, owned by the caller, or {@code -errno}
     */
    public static int eventfd(int initval, int flags) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) EVENTFD.H.invokeExact(c, initval, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code pipe2(fds, flags)}: fills {@code fds} with the read end and the write end.
     *
     * @param fds   native memory for two ints
     * @param flags e.g. {@link #O_CLOEXEC}
     * @return 0, or {@code -errno}
     */
    public static int pipe2(MemorySegment fds, int flags) {
        checkBounds(fds, 0, 8);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) PIPE2.H.invokeExact(c, fds, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code socketpair(domain, type, protocol, fds)}: fills {@code fds} with two connected sockets.
     *
     * @param domain   {@link #AF_UNIX}
     * @param type     e.g. {@link #SOCK_SEQPACKET} | {@link #SOCK_CLOEXEC}
     * @param protocol 0
     * @param fds      native memory for two ints
     * @return 0, or {@code -errno}
     */
    public static int socketpair(int domain, int type, int protocol, MemorySegment fds) {
        checkBounds(fds, 0, 8);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) SOCKETPAIR.H.invokeExact(c, domain, type, protocol, fds);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code memfd_create(name, flags)}: an anonymous file in memory, e.g. guest RAM to map with IOMMU_IOAS_MAP_FILE.
     *
     * @param name  a name for /proc/self/fd and debugging
     * @param flags e.g. {@link #MFD_CLOEXEC}
     * @return a file descriptor, owned by the caller, or {@code -errno}
     */
    public static int memfdCreate(String name, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = ERRNO_BUFFER.get();
            int r = (int) MEMFD_CREATE.H.invokeExact(c, arena.allocateFrom(name), flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code ftruncate(fd, length)}: sets a file's size (e.g. a memfd's).
     *
     * @param fd     the file descriptor
     * @param length the new size in bytes
     * @return 0, or {@code -errno}
     */
    public static int ftruncate(int fd, long length) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) FTRUNCATE.H.invokeExact(c, fd, length);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code fcntl(fd, cmd, arg)} for the integer-argument commands.
     *
     * @param fd  the file descriptor
     * @param cmd e.g. {@link #F_GETFL}, {@link #F_SETFL}, {@link #F_DUPFD_CLOEXEC}
     * @param arg the command's argument
     * @return the result, or {@code -errno}
     */
    public static int fcntl(int fd, int cmd, int arg) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) FCNTL.H.invokeExact(c, fd, cmd, arg);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * A close-on-exec duplicate of {@code fd} ({@code fcntl(F_DUPFD_CLOEXEC)}).
     *
     * @param fd the file descriptor
     * @return the new descriptor, owned by the caller, or {@code -errno}
     */
    public static int dupCloexec(int fd) {
        return fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }

    /**
     * The calling platform thread's kernel thread id.
     *
     * @return the tid
     */
    public static int gettid() {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            return (int) GETTID.H.invokeExact(c);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code socket(domain, type, protocol)}.
     *
     * @param domain   {@link #AF_UNIX}
     * @param type     e.g. {@link #SOCK_SEQPACKET} | {@link #SOCK_CLOEXEC}
     * @param protocol 0
     * @return a file descriptor, owned by the caller, or {@code -errno}
     */
    public static int socket(int domain, int type, int protocol) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) SOCKET.H.invokeExact(c, domain, type, protocol);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code bind(fd, addr, addrlen)}.
     *
     * @param fd      the socket
     * @param addr    a {@link #SOCKADDR_UN}
     * @param addrlen the address's length in bytes
     * @return 0, or {@code -errno}
     */
    public static int bind(int fd, MemorySegment addr, int addrlen) {
        checkBounds(addr, 0, addrlen);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) BIND.H.invokeExact(c, fd, addr, addrlen);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code listen(fd, backlog)}.
     *
     * @param fd      the socket
     * @param backlog the most pending connections
     * @return 0, or {@code -errno}
     */
    public static int listen(int fd, int backlog) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) LISTEN.H.invokeExact(c, fd, backlog);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code accept4(fd, NULL, NULL, flags)}.
     *
     * @param fd    the listening socket
     * @param flags e.g. {@link #SOCK_CLOEXEC}
     * @return the connected socket, owned by the caller, or {@code -errno}
     */
    public static int accept4(int fd, int flags) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) ACCEPT4.H.invokeExact(c, fd, MemorySegment.NULL, MemorySegment.NULL, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code connect(fd, addr, addrlen)}.
     *
     * @param fd      the socket
     * @param addr    a {@link #SOCKADDR_UN}
     * @param addrlen the address's length in bytes
     * @return 0, or {@code -errno}
     */
    public static int connect(int fd, MemorySegment addr, int addrlen) {
        checkBounds(addr, 0, addrlen);
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) CONNECT.H.invokeExact(c, fd, addr, addrlen);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code shutdown(fd, how)}: also wakes a thread waiting in poll on the socket.
     *
     * @param fd  the socket
     * @param how {@link #SHUT_RD}, {@link #SHUT_WR} or {@link #SHUT_RDWR}
     * @return 0, or {@code -errno}
     */
    public static int shutdown(int fd, int how) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) SHUTDOWN.H.invokeExact(c, fd, how);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code sendmsg(fd, msg, flags)} with a {@link #MSGHDR}.
     *
     * @param fd    the socket
     * @param msg   a {@link #MSGHDR}
     * @param flags e.g. {@link #MSG_NOSIGNAL}
     * @return bytes sent, or {@code -errno}
     */
    public static long sendmsg(int fd, MemorySegment msg, int flags) {
        checkBounds(msg, 0, MSGHDR.byteSize());
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) SENDMSG.H.invokeExact(c, fd, msg, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code recvmsg(fd, msg, flags)} with a {@link #MSGHDR}.
     *
     * @param fd    the socket
     * @param msg   a {@link #MSGHDR}; the kernel writes its flags and lengths back
     * @param flags e.g. {@link #MSG_CMSG_CLOEXEC} | {@link #MSG_DONTWAIT}
     * @return bytes received (0 at end of stream), or {@code -errno}
     */
    public static long recvmsg(int fd, MemorySegment msg, int flags) {
        checkBounds(msg, 0, MSGHDR.byteSize());
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) RECVMSG.H.invokeExact(c, fd, msg, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code getsockopt(fd, level, name, value, &len)} into {@code value}.
     *
     * @param fd    the socket
     * @param level e.g. {@link #SOL_SOCKET}
     * @param name  e.g. {@link #SO_PEERCRED}
     * @param value native memory for the option's value (its size is the length offered)
     * @return the length written, or {@code -errno}
     */
    public static int getsockopt(int fd, int level, int name, MemorySegment value) {
        MemorySegment c = ERRNO_BUFFER.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment len = arena.allocateFrom(JAVA_INT, (int) value.byteSize());
            int r = (int) GETSOCKOPT.H.invokeExact(c, fd, level, name, value, len);
            return r < 0 ? -errno(c) : len.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code CMSG_ALIGN}: control data is aligned to {@code size_t}.
     *
     * @param length a length in bytes
     * @return it rounded up to a multiple of 8
     */
    public static long cmsgAlign(long length) {
        return (length + 7) & ~7L;
    }

    /**
     * {@code CMSG_LEN(n)}: a control message's {@code cmsg_len} for {@code n} bytes of data.
     *
     * @param n bytes of data
     * @return the header's size plus {@code n}
     */
    public static long cmsgLen(long n) {
        return cmsgAlign(CMSGHDR.byteSize()) + n;
    }

    /**
     * {@code CMSG_SPACE(n)}: the buffer space a control message with {@code n} bytes of data takes.
     *
     * @param n bytes of data
     * @return the aligned header and data size
     */
    public static long cmsgSpace(long n) {
        return cmsgAlign(CMSGHDR.byteSize()) + cmsgAlign(n);
    }

    private static void checkBounds(MemorySegment seg, long offset, long count) {
        // The kernel would write past a too-small Java segment: refuse before the call.
        if (count < 0 || offset + count > seg.byteSize()) {
            throw new IndexOutOfBoundsException("count " + count + " exceeds segment of " + seg.byteSize() + " bytes");
        }
    }

    /** {@code struct pollfd}: {int fd; short events; short revents}. */
    public static final MemoryLayout POLLFD = MemoryLayout.structLayout(
            JAVA_INT.withName("fd"), ValueLayout.JAVA_SHORT.withName("events"), ValueLayout.JAVA_SHORT.withName("revents"))
            .withName("pollfd");

    // Socket structs of Linux on x86-64 and aarch64 (both LP64, the same layout); the ABI test
    // checks them against the C compiler. Written by hand: jextract binds only the kernel UAPI.

    /** {@code struct iovec}: {void *iov_base; size_t iov_len}. */
    public static final MemoryLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"), JAVA_LONG.withName("iov_len")).withName("iovec");

    /** {@code struct msghdr} of sendmsg/recvmsg. */
    public static final MemoryLayout MSGHDR = MemoryLayout.structLayout(
            ADDRESS.withName("msg_name"), JAVA_INT.withName("msg_namelen"), MemoryLayout.paddingLayout(4),
            ADDRESS.withName("msg_iov"), JAVA_LONG.withName("msg_iovlen"),
            ADDRESS.withName("msg_control"), JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"), MemoryLayout.paddingLayout(4)).withName("msghdr");

    /** {@code struct cmsghdr}: {size_t cmsg_len; int cmsg_level; int cmsg_type}, data follows at {@link #cmsgLen cmsgLen(0)}. */
    public static final MemoryLayout CMSGHDR = MemoryLayout.structLayout(
            JAVA_LONG.withName("cmsg_len"), JAVA_INT.withName("cmsg_level"), JAVA_INT.withName("cmsg_type")).withName("cmsghdr");

    /** {@code struct sockaddr_un}: {sa_family_t sun_family; char sun_path[108]}. */
    public static final MemoryLayout SOCKADDR_UN = MemoryLayout.structLayout(
            ValueLayout.JAVA_SHORT.withName("sun_family"),
            MemoryLayout.sequenceLayout(108, ValueLayout.JAVA_BYTE).withName("sun_path")).withName("sockaddr_un");

    /** {@code struct ucred} of SO_PEERCRED: {pid_t pid; uid_t uid; gid_t gid}. */
    public static final MemoryLayout UCRED = MemoryLayout.structLayout(
            JAVA_INT.withName("pid"), JAVA_INT.withName("uid"), JAVA_INT.withName("gid")).withName("ucred");

    // ---- Safe access to memory that may be unmapped (appended) ----

    private static final class GETPID { static final MethodHandle H = bind("getpid", FunctionDescriptor.of(JAVA_INT)); }
    private static final class PROCESS_VM_READV { static final MethodHandle H = bind("process_vm_readv",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG)); }
    private static final class PROCESS_VM_WRITEV { static final MethodHandle H = bind("process_vm_writev",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG)); }
    private static final class MSYNC { static final MethodHandle H = bind("msync", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)); }

    /** madvise(2) advice (Linux 5.14+): fault pages in readable / writable as a pin would, without touching them. */
    public static final int MADV_POPULATE_READ = 22, MADV_POPULATE_WRITE = 23;
    /** msync(2) flag: schedule the write-back and return. */
    public static final int MS_ASYNC = 1;
    /** mmap(2) flag (Linux 4.17+): map exactly at the address given, EEXIST if anything is mapped there. */
    public static final int MAP_FIXED_NOREPLACE = 0x100000;

    /**
     * {@code getpid()}.
     *
     * @return the process id
     */
    public static int getpid() {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            return (int) GETPID.H.invokeExact(c);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code process_vm_readv(pid, local, liovcnt, remote, riovcnt, 0)}: bytes copied from the
     * remote ranges into the local ones, or {@code -errno}. On this process's own pid it is a
     * copy that fails with EFAULT (or stops short) where either side is not mapped, instead of
     * faulting.
     *
     * @param pid     the process whose memory is read (this one's own for a safe copy)
     * @param local   {@code liovcnt} {@link #IOVEC}s to copy to
     * @param liovcnt the number of local iovecs
     * @param remote  {@code riovcnt} {@link #IOVEC}s to copy from
     * @param riovcnt the number of remote iovecs
     * @return bytes copied, or {@code -errno}
     */
    public static long processVmReadv(int pid, MemorySegment local, long liovcnt, MemorySegment remote, long riovcnt) {
        return processVm(PROCESS_VM_READV.H, pid, local, liovcnt, remote, riovcnt);
    }

    /**
     * {@code process_vm_writev(pid, local, liovcnt, remote, riovcnt, 0)}: as {@link #processVmReadv}, local to remote.
     *
     * @param pid     the process whose memory is written (this one's own for a safe copy)
     * @param local   {@code liovcnt} {@link #IOVEC}s to copy from
     * @param liovcnt the number of local iovecs
     * @param remote  {@code riovcnt} {@link #IOVEC}s to copy to
     * @param riovcnt the number of remote iovecs
     * @return bytes copied, or {@code -errno}
     */
    public static long processVmWritev(int pid, MemorySegment local, long liovcnt, MemorySegment remote, long riovcnt) {
        return processVm(PROCESS_VM_WRITEV.H, pid, local, liovcnt, remote, riovcnt);
    }

    private static long processVm(MethodHandle h, int pid, MemorySegment local, long liovcnt, MemorySegment remote, long riovcnt) {
        checkBounds(local, 0, liovcnt * IOVEC.byteSize());
        checkBounds(remote, 0, riovcnt * IOVEC.byteSize());
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            long r = (long) h.invokeExact(c, pid, local, liovcnt, remote, riovcnt, 0L);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * {@code msync(addr, length, flags)}.
     *
     * @param addr   the range's address (page aligned)
     * @param length its length in bytes
     * @param flags  e.g. {@link #MS_ASYNC}
     * @return 0, or {@code -errno} (ENOMEM when part of the range is not mapped)
     */
    public static int msync(long addr, long length, int flags) {
        MemorySegment c = ERRNO_BUFFER.get();
        try {
            int r = (int) MSYNC.H.invokeExact(c, MemorySegment.ofAddress(addr), length, flags);
            return r < 0 ? -errno(c) : r;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }
}
