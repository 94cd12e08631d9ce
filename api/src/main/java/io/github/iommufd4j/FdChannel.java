package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.HandleState;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A connected UNIX domain socket that carries file descriptors (SCM_RIGHTS), which Java's own
 * socket channels cannot: how a sandboxed VMM receives the iommufd and VFIO device fds that a
 * privileged helper opened. Each message is a payload of at least one byte plus zero or more
 * descriptors; the socket is {@code SOCK_SEQPACKET}, so the kernel keeps message boundaries.
 *
 * <pre>{@code
 * try (FdChannel ch = FdChannel.connect(Path.of("/run/vmm/iommufd.sock"));
 *      ReceivedFds m = ch.receiveExactly(256, 2, Duration.ofSeconds(30))) {
 *     Iommufd fd = Iommufd.fromFd(m.take(0));
 *     ...
 * }
 * }</pre>
 *
 * Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC) and owned by the {@link ReceivedFds}
 * until taken. Every failure closes whatever the message carried and is typed: the kernel's errno
 * as an {@link IommufdException}, or an {@link FdPassingException} for a peer that closed, a
 * timeout, a truncated control message (MSG_CTRUNC) or payload, or an unexpected descriptor
 * count. Sending never raises SIGPIPE (MSG_NOSIGNAL): a vanished peer is EPIPE.
 *
 * <p>Thread-safe; {@link #close()} is idempotent, wakes a thread waiting in receive (it gets
 * EBADF "handle is closed") and waits for calls in flight before closing the socket.
 */
public final class FdChannel implements AutoCloseable {
    /** The most descriptors one message may carry (the kernel's SCM_MAX_FD). */
    public static final int MAX_FDS = 253;

    private static final VarHandle MSG_IOV = Libc.MSGHDR.varHandle(PathElement.groupElement("msg_iov"));
    private static final VarHandle MSG_IOVLEN = Libc.MSGHDR.varHandle(PathElement.groupElement("msg_iovlen"));
    private static final VarHandle MSG_CONTROL = Libc.MSGHDR.varHandle(PathElement.groupElement("msg_control"));
    private static final VarHandle MSG_CONTROLLEN = Libc.MSGHDR.varHandle(PathElement.groupElement("msg_controllen"));
    private static final VarHandle MSG_FLAGS = Libc.MSGHDR.varHandle(PathElement.groupElement("msg_flags"));
    private static final VarHandle IOV_BASE = Libc.IOVEC.varHandle(PathElement.groupElement("iov_base"));
    private static final VarHandle IOV_LEN = Libc.IOVEC.varHandle(PathElement.groupElement("iov_len"));
    private static final VarHandle CMSG_LEN = Libc.CMSGHDR.varHandle(PathElement.groupElement("cmsg_len"));
    private static final VarHandle CMSG_LEVEL = Libc.CMSGHDR.varHandle(PathElement.groupElement("cmsg_level"));
    private static final VarHandle CMSG_TYPE = Libc.CMSGHDR.varHandle(PathElement.groupElement("cmsg_type"));
    static final int EINTR = Errno.value("EINTR"), EAGAIN = Errno.value("EAGAIN"), ECONNABORTED = Errno.value("ECONNABORTED");

    private final int fd;
    private final String name;
    private final HandleState state = new HandleState();

    private FdChannel(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /**
     * Connects to a listening socket ({@link FdListener}, or a helper's) at {@code path}.
     *
     * @param path the socket file
     * @return the connected channel, owning its socket
     * @throws IommufdException ENOENT when nothing listens there, ECONNREFUSED, EACCES without write
     *         permission on the socket file
     * @throws IllegalArgumentException when the path does not fit {@code sun_path}
     */
    public static FdChannel connect(Path path) throws IommufdException {
        String name = path.toString();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = address(a, path);
            int s = newSocket("connect", name, 0);
            int rc = Libc.connect(s, addr, (int) addr.byteSize());
            if (rc < 0) {
                Libc.close(s);
                throw new IommufdException("connect", "socket=" + name, -rc);
            }
            return new FdChannel(s, name);
        }
    }

    /**
     * Wraps a connected socket the process inherited or made (e.g. one end of a socketpair a
     * launcher passed to the VMM) and takes ownership of it. It must be an {@code AF_UNIX}
     * {@code SOCK_SEQPACKET} socket: anything else is refused and stays open, owned by the caller.
     *
     * @param socketFd the socket's file descriptor
     * @return the channel, owning {@code socketFd}
     * @throws IommufdException ENOTSOCK, EAFNOSUPPORT or EPROTOTYPE for another kind of fd, EBADF for
     *         a closed one
     * @throws IllegalArgumentException for a negative fd
     */
    public static FdChannel fromFd(int socketFd) throws IommufdException {
        if (socketFd < 0) throw new IllegalArgumentException("FdChannel.fromFd: fd " + socketFd);
        String what = "fd=" + socketFd;
        int domain = intOption(socketFd, Libc.SO_DOMAIN, what);
        if (domain != Libc.AF_UNIX) {
            throw new IommufdException("FdChannel.fromFd", what, Errno.value("EAFNOSUPPORT"),
                    "not an AF_UNIX socket (domain " + domain + "; the fd stays open, owned by the caller)");
        }
        int type = intOption(socketFd, Libc.SO_TYPE, what);
        if (type != Libc.SOCK_SEQPACKET) {
            throw new IommufdException("FdChannel.fromFd", what, Errno.value("EPROTOTYPE"),
                    "not a SOCK_SEQPACKET socket (type " + type + "; the fd stays open, owned by the caller)");
        }
        return new FdChannel(socketFd, "fd " + socketFd);
    }

    private static int intOption(int socketFd, int option, String what) throws IommufdException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            int rc = Libc.getsockopt(socketFd, Libc.SOL_SOCKET, option, v);
            if (rc < 0) {
                throw new IommufdException("FdChannel.fromFd", what, -rc,
                        Errno.name(-rc) + " (" + Errno.describe(-rc) + "; the fd stays open, owned by the caller)");
            }
            return v.get(JAVA_INT, 0);
        }
    }

    /** Wraps a socket {@link FdListener#accept} returned. */
    static FdChannel accepted(int fd, String name) {
        return new FdChannel(fd, name);
    }

    /** A new close-on-exec {@code AF_UNIX SOCK_SEQPACKET} socket. */
    static int newSocket(String op, String name, int flags) throws IommufdException {
        int s = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC | flags, 0);
        if (s < 0) throw new IommufdException(op, "socket=" + name, -s);
        return s;
    }

    /** {@code struct sockaddr_un} for a path; the path must fit {@code sun_path} with its NUL. */
    static MemorySegment address(Arena a, Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        long room = Libc.SOCKADDR_UN.select(PathElement.groupElement("sun_path")).byteSize();
        if (bytes.length == 0 || bytes.length >= room) {
            throw new IllegalArgumentException("socket path must be 1.." + (room - 1) + " bytes: " + path);
        }
        MemorySegment addr = a.allocate(Libc.SOCKADDR_UN);
        addr.set(JAVA_SHORT, 0, (short) Libc.AF_UNIX);
        MemorySegment.copy(bytes, 0, addr, JAVA_BYTE, Libc.SOCKADDR_UN.byteOffset(PathElement.groupElement("sun_path")), bytes.length);
        return addr;
    }

    /**
     * The socket's file descriptor, still owned by this channel: do not close it.
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /**
     * Who is at the other end (SO_PEERCRED), as of when it connected.
     *
     * @param pid the peer process's pid
     * @param uid its user id
     * @param gid its group id
     */
    public record Peer(int pid, int uid, int gid) {}

    /**
     * The credentials of the process at the other end, e.g. for a helper to check which user it
     * serves.
     *
     * @return the peer's pid, uid and gid when it connected
     * @throws IommufdException EBADF "handle is closed" after {@link #close()}
     */
    public Peer peer() throws IommufdException {
        enter("SO_PEERCRED");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(Libc.UCRED);
            int rc = Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, c);
            if (rc < 0) throw new IommufdException("SO_PEERCRED", "socket=" + name, -rc);
            return new Peer(c.get(JAVA_INT, 0), c.get(JAVA_INT, 4), c.get(JAVA_INT, 8));
        } finally {
            state.exit();
        }
    }

    /**
     * Sends one message: {@code payload} and the descriptors, which stay open and owned by the
     * caller (the peer receives its own duplicates). Waits while the socket's buffer is full.
     *
     * @param payload at least one byte
     * @param fds     up to {@link #MAX_FDS} open descriptors
     * @throws IommufdException EBADF for a closed descriptor in {@code fds}, EPIPE when the peer is
     *         gone, EBADF "handle is closed" after {@link #close()}
     * @throws IllegalArgumentException for an empty payload, a negative descriptor or more than
     *         {@value #MAX_FDS}
     */
    public void send(byte[] payload, int... fds) throws IommufdException {
        Objects.requireNonNull(payload, "payload");
        Objects.requireNonNull(fds, "fds");
        String args = "socket=" + name + ", bytes=" + payload.length + ", fds=" + Arrays.toString(fds);
        if (payload.length == 0) throw new IllegalArgumentException("sendmsg(" + args + "): the payload must have at least one byte");
        if (fds.length > MAX_FDS) throw new IllegalArgumentException("sendmsg(" + args + "): at most " + MAX_FDS + " descriptors");
        for (int f : fds) if (f < 0) throw new IllegalArgumentException("sendmsg(" + args + "): negative descriptor");
        enter("sendmsg");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment control = control(a, fds.length);
            if (fds.length > 0) {
                CMSG_LEN.set(control, 0L, Libc.cmsgLen(4L * fds.length));
                CMSG_LEVEL.set(control, 0L, Libc.SOL_SOCKET);
                CMSG_TYPE.set(control, 0L, Libc.SCM_RIGHTS);
                MemorySegment.copy(fds, 0, control, JAVA_INT, Libc.cmsgLen(0), fds.length);
            }
            MemorySegment msg = message(a, a.allocateFrom(JAVA_BYTE, payload), control);
            long n;
            do {
                n = Libc.sendmsg(fd, msg, Libc.MSG_NOSIGNAL);
            } while (n == -EINTR);
            if (n < 0) throw new IommufdException("sendmsg", args, (int) -n);
            if (n != payload.length) throw new IommufdException("sendmsg", args + ", sent=" + n, Errno.value("EMSGSIZE"));
        } finally {
            state.exit();
        }
    }

    /** Room for one control message with {@code fds} descriptors ({@link MemorySegment#NULL} for none). */
    private static MemorySegment control(Arena a, int fds) {
        return fds == 0 ? MemorySegment.NULL : a.allocate(Libc.cmsgSpace(4L * fds), 8);
    }

    /** A msghdr over {@code data} and {@code control}. */
    private static MemorySegment message(Arena a, MemorySegment data, MemorySegment control) {
        MemorySegment iov = a.allocate(Libc.IOVEC);
        IOV_BASE.set(iov, 0L, data);
        IOV_LEN.set(iov, 0L, data.byteSize());
        MemorySegment msg = a.allocate(Libc.MSGHDR);
        MSG_IOV.set(msg, 0L, iov);
        MSG_IOVLEN.set(msg, 0L, 1L);
        MSG_CONTROL.set(msg, 0L, control);
        MSG_CONTROLLEN.set(msg, 0L, control.byteSize());
        return msg;
    }

    /**
     * Receives one message with between 0 and {@code maxFds} descriptors. More descriptors than
     * {@code maxFds} fail with {@link FdPassingException.Reason#CONTROL_TRUNCATED} (the kernel
     * discards those that did not fit; this closes the rest).
     *
     * @param maxPayload the most payload bytes expected
     * @param maxFds     the most descriptors expected, up to {@link #MAX_FDS}
     * @param timeout    the longest wait, or {@code null} for no limit
     * @return the message; close it to close the descriptors not taken
     * @throws FdPassingException PEER_CLOSED, TIMED_OUT, CONTROL_TRUNCATED or PAYLOAD_TRUNCATED (what
     *         arrived is closed)
     * @throws IommufdException the errno of recvmsg(2), or EBADF "handle is closed" when the channel
     *         is or gets closed
     * @throws IllegalArgumentException for {@code maxPayload} below 1 or {@code maxFds} outside
     *         0..{@value #MAX_FDS}
     */
    public ReceivedFds receive(int maxPayload, int maxFds, Duration timeout) throws IommufdException {
        if (maxFds < 0 || maxFds > MAX_FDS) throw new IllegalArgumentException("receive: maxFds " + maxFds + " not in 0.." + MAX_FDS);
        return receive(maxPayload, maxFds, -1, timeout);
    }

    /**
     * Receives one message that must carry exactly {@code fds} descriptors; otherwise as
     * {@link #receive}.
     *
     * @param maxPayload the most payload bytes expected
     * @param fds        the number of descriptors expected
     * @param timeout    the longest wait, or {@code null} for no limit
     * @return the message; close it to close the descriptors not taken
     * @throws FdPassingException WRONG_FD_COUNT (or CONTROL_TRUNCATED for far more) with all of them
     *         closed, and as {@link #receive}
     * @throws IommufdException as {@link #receive}
     * @throws IllegalArgumentException for {@code maxPayload} below 1 or {@code fds} outside
     *         0..{@value #MAX_FDS}
     */
    public ReceivedFds receiveExactly(int maxPayload, int fds, Duration timeout) throws IommufdException {
        if (fds < 0 || fds > MAX_FDS) throw new IllegalArgumentException("receiveExactly: fds " + fds + " not in 0.." + MAX_FDS);
        // Room for one more than expected, so that one extra is reported as a wrong count.
        return receive(maxPayload, Math.min(fds + 1, MAX_FDS), fds, timeout);
    }

    private ReceivedFds receive(int maxPayload, int room, int expected, Duration timeout) throws IommufdException {
        if (maxPayload < 1) throw new IllegalArgumentException("receive: maxPayload " + maxPayload + " < 1");
        long deadline = deadline(timeout);
        String args = "socket=" + name + ", maxPayload=" + maxPayload + (expected >= 0 ? ", fds=" + expected : ", maxFds=" + room);
        enter("recvmsg");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(maxPayload);
            MemorySegment control = control(a, room); // none for room 0: any descriptor is then MSG_CTRUNC
            for (;;) {
                awaitReadable(a, deadline, timeout, args);
                MemorySegment msg = message(a, data, control);
                long n = Libc.recvmsg(fd, msg, Libc.MSG_CMSG_CLOEXEC | Libc.MSG_DONTWAIT);
                // The descriptors first: from here on every way out closes them.
                int[] fds = n < 0 ? new int[0] : descriptors(control, (long) MSG_CONTROLLEN.get(msg, 0L));
                try {
                    if (n == -EINTR || n == -EAGAIN) { // another reader took the message: wait again
                        ReceivedFds.closeAll(fds, null);
                        continue;
                    }
                    if (n < 0) throw new IommufdException("recvmsg", args, (int) -n);
                    int flags = (int) MSG_FLAGS.get(msg, 0L);
                    if (state.isClosed()) throw IommufdException.closed("recvmsg", args);
                    if (n == 0 && fds.length == 0 && (flags & Libc.MSG_CTRUNC) == 0) {
                        throw new FdPassingException("recvmsg", args, FdPassingException.Reason.PEER_CLOSED, "");
                    }
                    if ((flags & Libc.MSG_CTRUNC) != 0) {
                        throw new FdPassingException("recvmsg", args, FdPassingException.Reason.CONTROL_TRUNCATED,
                                fds.length + " arrived, room for " + room);
                    }
                    if ((flags & Libc.MSG_TRUNC) != 0) {
                        throw new FdPassingException("recvmsg", args, FdPassingException.Reason.PAYLOAD_TRUNCATED, "");
                    }
                    if (expected >= 0 && fds.length != expected) {
                        throw new FdPassingException("recvmsg", args, FdPassingException.Reason.WRONG_FD_COUNT,
                                fds.length + " arrived, " + expected + " expected");
                    }
                    return new ReceivedFds(data.asSlice(0, n).toArray(JAVA_BYTE), fds);
                } catch (Throwable t) {
                    ReceivedFds.closeAll(fds, null);
                    throw t;
                }
            }
        } finally {
            state.exit();
        }
    }

    /** Waits for a message (or the peer's close, or our own close) until the deadline. */
    private void awaitReadable(Arena a, long deadline, Duration timeout, String args) throws IommufdException {
        awaitReadable(a, fd, state, deadline, timeout, "recvmsg", args);
    }

    /**
     * Waits until {@code fd} is readable (or hung up, or in error: the next call tells which);
     * a closed {@code state} is EBADF "handle is closed", the deadline TIMED_OUT. Polls at least
     * once, so a zero timeout still finds what is already there.
     */
    static void awaitReadable(Arena a, int fd, HandleState state, long deadline, Duration timeout, String op, String args)
            throws IommufdException {
        MemorySegment pfd = a.allocate(Libc.POLLFD);
        for (;;) {
            if (state.isClosed()) throw IommufdException.closed(op, args);
            long left = deadline - System.nanoTime();
            int millis = deadline == Long.MAX_VALUE ? -1 : (int) Math.min(Integer.MAX_VALUE, Math.max(0, (left + 999_999) / 1_000_000));
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(JAVA_SHORT, 4, Libc.POLLIN);
            pfd.set(JAVA_SHORT, 6, (short) 0);
            int rc = Libc.poll(pfd, 1, millis);
            if (rc > 0) return;
            if (rc < 0 && rc != -EINTR) throw new IommufdException("poll", args, -rc);
            if (rc == 0 && deadline != Long.MAX_VALUE && System.nanoTime() - deadline >= 0) {
                throw new FdPassingException(op, args, FdPassingException.Reason.TIMED_OUT, "after " + timeout);
            }
        }
    }

    /** The deadline for a timeout ({@code null}, or more than a year: none). */
    static long deadline(Duration timeout) {
        if (timeout == null || timeout.compareTo(Duration.ofDays(365)) > 0) return Long.MAX_VALUE;
        return System.nanoTime() + Math.max(0, timeout.toNanos());
    }

    /** Every descriptor in the SCM_RIGHTS control messages recvmsg filled in ({@code controlLen} bytes). */
    private static int[] descriptors(MemorySegment control, long controlLen) {
        controlLen = Math.min(controlLen, control.byteSize());
        int[] out = new int[0];
        long header = Libc.cmsgLen(0);
        for (long at = 0; at + header <= controlLen; ) {
            long len = (long) CMSG_LEN.get(control, at);
            if (len < header || at + len > controlLen) break;
            if ((int) CMSG_LEVEL.get(control, at) == Libc.SOL_SOCKET && (int) CMSG_TYPE.get(control, at) == Libc.SCM_RIGHTS) {
                int n = (int) ((len - header) / 4);
                int old = out.length;
                out = Arrays.copyOf(out, old + n);
                MemorySegment.copy(control, JAVA_INT, at + header, out, old, n);
            }
            at += Libc.cmsgAlign(len);
        }
        return out;
    }

    private void enter(String op) throws IommufdException {
        if (!state.enter()) throw IommufdException.closed(op, "socket=" + name);
    }

    /**
     * Whether {@link #close()} has been called.
     *
     * @return true once closing has begun
     */
    public boolean isClosed() {
        return state.isClosed();
    }

    /** Closes the socket; a thread waiting in receive wakes with EBADF "handle is closed". Idempotent. */
    @Override
    public void close() {
        closeSocket(state, fd, null);
    }

    /**
     * Closes a socket handle once (a concurrent second close waits for the first): refuses new
     * calls, wakes a thread waiting in poll (shutdown), waits for calls in flight, closes the fd,
     * then runs {@code after} (may be null).
     */
    static void closeSocket(HandleState state, int fd, Runnable after) {
        if (!state.markClosed()) {
            state.awaitReleased();
            return;
        }
        try {
            Libc.shutdown(fd, Libc.SHUT_RDWR);
            state.awaitIdle(0);
            Libc.close(fd);
            if (after != null) after.run();
        } finally {
            state.markReleased();
        }
    }

    /**
     * Names the socket and whether it is closed.
     *
     * @return e.g. {@code FdChannel[/run/vmm/iommufd.sock]}
     */
    @Override
    public String toString() {
        return "FdChannel[" + name + (isClosed() ? ", closed" : "") + "]";
    }
}
