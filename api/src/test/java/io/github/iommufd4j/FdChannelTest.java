package io.github.iommufd4j;

import io.github.iommufd4j.FdPassingException.Reason;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.testing.OpenFds;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * File descriptor passing over UNIX sockets on the host: pipes, memfds and eventfds arrive and
 * work; every bad input is a typed error; and no test leaves a descriptor open (each compares
 * {@code /proc/self/fd} before and after).
 */
class FdChannelTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final int F_GETFD = 1, FD_CLOEXEC = 1;
    Map<Integer, String> before;
    Arena arena;
    Path dir;

    @BeforeEach
    void snapshot() throws IOException {
        arena = Arena.ofConfined();
        dir = Files.createTempDirectory("fdpass");
        before = OpenFds.snapshot();
    }

    @AfterEach
    void noDescriptorLeft() throws IOException {
        List<String> leaked = OpenFds.leakedSince(before);
        arena.close();
        try (var s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "socket files left");
        }
        Files.delete(dir);
        assertEquals(List.of(), leaked, "descriptors opened or closed by the test");
    }

    /** Both ends of a fresh SOCK_SEQPACKET socketpair, adopted by FdChannel.fromFd. */
    FdChannel[] pair() throws IommufdException {
        MemorySegment fds = arena.allocate(JAVA_INT, 2);
        assertEquals(0, Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0, fds));
        return new FdChannel[] {FdChannel.fromFd(fds.get(JAVA_INT, 0)), FdChannel.fromFd(fds.get(JAVA_INT, 4))};
    }

    int[] pipe() {
        MemorySegment fds = arena.allocate(JAVA_INT, 2);
        assertEquals(0, Libc.pipe2(fds, Libc.O_CLOEXEC));
        return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
    }

    static void closeAll(int... fds) {
        for (int f : fds) assertEquals(0, Libc.close(f));
    }

    static boolean isOpen(int fd) {
        return Libc.fcntl(fd, F_GETFD, 0) >= 0;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static FdPassingException fails(Reason reason, Executable call) {
        FdPassingException e = assertThrows(FdPassingException.class, call);
        assertEquals(reason, e.reason(), e.getMessage());
        return e;
    }

    static IommufdException failsWith(String errno, Executable call) {
        IommufdException e = assertThrows(IommufdException.class, call);
        assertEquals(errno, e.errnoName(), e.getMessage());
        return e;
    }

    @Test
    void pipeMemfdAndEventfdArriveWithThePayloadAndWork() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        int memfd = Libc.memfdCreate("fdpass", Libc.MFD_CLOEXEC);
        int eventfd = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        assertTrue(memfd >= 0 && eventfd >= 0);
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(bytes("ioas=7"), pipe[0], memfd, eventfd);
            try (ReceivedFds m = b.receiveExactly(64, 3, WAIT)) {
                assertEquals("ioas=7", new String(m.payload(), StandardCharsets.UTF_8));
                assertEquals(3, m.count());
                for (int i = 0; i < 3; i++) {
                    assertFalse(List.of(pipe[0], memfd, eventfd).contains(m.fd(i)), "a new descriptor");
                    assertEquals(FD_CLOEXEC, Libc.fcntl(m.fd(i), F_GETFD, 0) & FD_CLOEXEC, "close-on-exec (MSG_CMSG_CLOEXEC)");
                }
                MemorySegment buf = arena.allocate(8);
                buf.set(JAVA_LONG, 0, 0x1122334455667788L);
                // pipe: written at our write end, read from the received read end
                assertEquals(8, Libc.write(pipe[1], buf, 8));
                buf.fill((byte) 0);
                assertEquals(8, Libc.read(m.fd(0), buf, 8));
                assertEquals(0x1122334455667788L, buf.get(JAVA_LONG, 0));
                // memfd: the same file
                assertEquals(8, Libc.pwrite(memfd, buf, 8, 100));
                buf.fill((byte) 0);
                assertEquals(8, Libc.pread(m.fd(1), buf, 8, 100));
                assertEquals(0x1122334455667788L, buf.get(JAVA_LONG, 0));
                // eventfd: the same counter
                buf.set(JAVA_LONG, 0, 5);
                assertEquals(8, Libc.write(m.fd(2), buf, 8));
                buf.set(JAVA_LONG, 0, 0);
                assertEquals(8, Libc.read(eventfd, buf, 8));
                assertEquals(5, buf.get(JAVA_LONG, 0));
            }
        } finally {
            closeAll(pipe[0], pipe[1], memfd, eventfd);
        }
    }

    @Test
    void aTakenDescriptorOutlivesTheHolderAndTheOthersAreClosed() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        int taken;
        int notTaken;
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(bytes("x"), pipe[0], pipe[1]);
            ReceivedFds m = b.receive(16, 4, WAIT);
            taken = m.take(0);
            notTaken = m.fd(1);
            assertThrows(IllegalStateException.class, () -> m.take(0), "taken once");
            assertThrows(IndexOutOfBoundsException.class, () -> m.fd(2));
            m.close();
            m.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> m.fd(1), "closed");
            assertTrue(isOpen(taken), "the taken descriptor is the caller's");
            assertFalse(isOpen(notTaken), "the other was closed");
        } finally {
            closeAll(pipe[0], pipe[1]);
        }
        closeAll(taken);
    }

    @Test
    void aPathListenerServesAClientAndKnowsItsCredentials() throws Exception {
        Path socket = dir.resolve("helper.sock");
        int[] pipe = pipe();
        try (FdListener listener = FdListener.bind(socket)) {
            assertTrue(Files.exists(socket));
            CompletableFuture<FdChannel.Peer> served = CompletableFuture.supplyAsync(() -> {
                try (FdChannel client = listener.accept(WAIT)) {
                    client.send(bytes("hello"), pipe[1]);
                    return client.peer();
                } catch (IommufdException e) {
                    throw new RuntimeException(e);
                }
            });
            try (FdChannel ch = FdChannel.connect(socket); ReceivedFds m = ch.receiveExactly(16, 1, WAIT)) {
                assertEquals("hello", new String(m.payload(), StandardCharsets.UTF_8));
                FdChannel.Peer helper = ch.peer();
                FdChannel.Peer client = served.get(30, TimeUnit.SECONDS);
                assertEquals(ProcessHandle.current().pid(), helper.pid());
                assertEquals(ProcessHandle.current().pid(), client.pid());
                assertEquals(helper.uid(), client.uid());
            }
        } finally {
            closeAll(pipe);
        }
        assertFalse(Files.exists(socket), "close removes the socket file");
    }

    // ---- bad input: each a typed error, and (checked after each test) no descriptor leaked ----

    @Test
    void aMessageWithoutDescriptorsWhereOneWasExpected() throws Exception {
        FdChannel[] ch = pair();
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(bytes("no fd"));
            FdPassingException e = fails(Reason.WRONG_FD_COUNT, () -> b.receiveExactly(16, 1, WAIT));
            assertEquals("EBADMSG", e.errnoName());
            assertTrue(e.getMessage().contains("0 arrived, 1 expected"), e.getMessage());
        }
    }

    @Test
    void twoDescriptorsWhereOneWasExpectedAreBothClosed() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(bytes("two"), pipe[0], pipe[1]);
            FdPassingException e = fails(Reason.WRONG_FD_COUNT, () -> b.receiveExactly(16, 1, WAIT));
            assertTrue(e.getMessage().contains("2 arrived, 1 expected"), e.getMessage());
        } finally {
            closeAll(pipe);
        }
    }

    @Test
    void moreDescriptorsThanRoomIsMsgCtrunc() throws Exception {
        FdChannel[] ch = pair();
        int[] p1 = pipe(), p2 = pipe(), p3 = pipe();
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(bytes("six"), p1[0], p1[1], p2[0], p2[1], p3[0], p3[1]);
            FdPassingException e = fails(Reason.CONTROL_TRUNCATED, () -> b.receive(16, 2, WAIT));
            assertEquals("EMSGSIZE", e.errnoName());
            // receiveExactly(1) has room for 2: six is MSG_CTRUNC too; no room at all as well.
            a.send(bytes("six"), p1[0], p1[1], p2[0], p2[1], p3[0], p3[1]);
            fails(Reason.CONTROL_TRUNCATED, () -> b.receiveExactly(16, 1, WAIT));
            a.send(bytes("one"), p1[0]);
            fails(Reason.CONTROL_TRUNCATED, () -> b.receive(16, 0, WAIT));
        } finally {
            closeAll(p1[0], p1[1], p2[0], p2[1], p3[0], p3[1]);
        }
    }

    @Test
    void aLongerPayloadIsTruncationNotASilentCut() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            a.send(new byte[100], pipe[0]);
            fails(Reason.PAYLOAD_TRUNCATED, () -> b.receiveExactly(10, 1, WAIT));
        } finally {
            closeAll(pipe);
        }
    }

    @Test
    void aZeroTimeoutTakesAMessageThatIsAlreadyThere() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            fails(Reason.TIMED_OUT, () -> b.receive(16, 1, Duration.ZERO));
            a.send(bytes("here"), pipe[0]);
            try (ReceivedFds m = b.receive(16, 1, Duration.ZERO)) {
                assertEquals(1, m.count());
            }
            a.send(bytes("here"));
            try (ReceivedFds m = b.receive(16, 1, Duration.ofDays(100_000))) { // "forever"
                assertEquals(0, m.count());
            }
        } finally {
            closeAll(pipe);
        }
    }

    @Test
    void aPeerThatClosedAndAQuietPeerThatTimesOut() throws Exception {
        FdChannel[] ch = pair();
        try (FdChannel b = ch[1]) {
            FdPassingException t = fails(Reason.TIMED_OUT, () -> b.receiveExactly(16, 1, Duration.ofMillis(50)));
            assertEquals("ETIMEDOUT", t.errnoName());
            ch[0].close();
            FdPassingException e = fails(Reason.PEER_CLOSED, () -> b.receiveExactly(16, 1, WAIT));
            assertEquals("ECONNRESET", e.errnoName());
            failsWith("EPIPE", () -> b.send(bytes("anyone?")));
        }
    }

    @Test
    void closeWakesAReceiverAndLaterCallsFailClosed() throws Exception {
        FdChannel[] ch = pair();
        try (FdChannel a = ch[0]) {
            FdChannel b = ch[1];
            CompletableFuture<Throwable> waiter = CompletableFuture.supplyAsync(() -> {
                try (ReceivedFds m = b.receive(16, 1, null)) {
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            b.close();
            Throwable t = waiter.get(30, TimeUnit.SECONDS);
            IommufdException e = assertInstanceOf(IommufdException.class, t);
            assertEquals("EBADF", e.errnoName());
            assertTrue(e.getMessage().contains("handle is closed"), e.getMessage());
            b.close(); // idempotent
            failsWith("EBADF", () -> b.send(bytes("x")));
            failsWith("EBADF", b::peer);
        }
    }

    @Test
    void sendingAClosedDescriptorIsEbadf() throws Exception {
        FdChannel[] ch = pair();
        int[] pipe = pipe();
        closeAll(pipe[1]);
        try (FdChannel a = ch[0]; FdChannel b = ch[1]) {
            failsWith("EBADF", () -> a.send(bytes("x"), pipe[0], pipe[1]));
            assertThrows(IllegalArgumentException.class, () -> a.send(new byte[0], pipe[0]));
            assertThrows(IllegalArgumentException.class, () -> a.send(bytes("x"), -1));
            assertThrows(IllegalArgumentException.class, () -> a.send(bytes("x"), new int[FdChannel.MAX_FDS + 1]));
            fails(Reason.TIMED_OUT, () -> b.receive(16, 2, Duration.ofMillis(10))); // nothing was sent
        } finally {
            closeAll(pipe[0]);
        }
    }

    @Test
    void fromFdRefusesWhatIsNotASeqpacketUnixSocketAndLeavesItOpen() throws Exception {
        int[] pipe = pipe();
        MemorySegment s = arena.allocate(JAVA_INT, 2);
        assertEquals(0, Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, s));
        int stream0 = s.get(JAVA_INT, 0), stream1 = s.get(JAVA_INT, 4);
        try {
            failsWith("ENOTSOCK", () -> FdChannel.fromFd(pipe[0]));
            failsWith("EPROTOTYPE", () -> FdChannel.fromFd(stream0));
            assertTrue(isOpen(pipe[0]) && isOpen(stream0), "refused descriptors stay open");
        } finally {
            closeAll(pipe[0], pipe[1], stream0, stream1);
        }
        failsWith("EBADF", () -> FdChannel.fromFd(pipe[0]));
        assertThrows(IllegalArgumentException.class, () -> FdChannel.fromFd(-1));
    }

    @Test
    void badSocketPathsAndListenerErrors() throws Exception {
        Path socket = dir.resolve("s.sock");
        failsWith("ENOENT", () -> FdChannel.connect(socket));
        assertThrows(IllegalArgumentException.class, () -> FdChannel.connect(dir.resolve("x".repeat(120))));
        Files.writeString(socket, "a file, not a socket");
        failsWith("EADDRINUSE", () -> FdListener.bind(socket));
        failsWith("ECONNREFUSED", () -> FdChannel.connect(socket));
        Files.delete(socket);
        try (FdListener listener = FdListener.bind(socket)) {
            fails(Reason.TIMED_OUT, () -> listener.accept(Duration.ofMillis(20)));
            CompletableFuture<Throwable> waiter = CompletableFuture.supplyAsync(() -> {
                try (FdChannel c = listener.accept(null)) {
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            listener.close();
            assertEquals("EBADF", assertInstanceOf(IommufdException.class, waiter.get(30, TimeUnit.SECONDS)).errnoName());
        }
    }

    @Test
    void iommufdFromFdRefusesOtherFdsAndLeavesThemOpen() throws Exception {
        int[] pipe = pipe();
        int memfd = Libc.memfdCreate("not-iommufd", Libc.MFD_CLOEXEC);
        try {
            IommufdException e = failsWith("ENOTTY", () -> Iommufd.fromFd(pipe[0]));
            assertTrue(e.getMessage().contains("not an iommufd"), e.getMessage());
            failsWith("ENOTTY", () -> Iommufd.fromFd(memfd));
            assertTrue(isOpen(pipe[0]) && isOpen(memfd));
        } finally {
            closeAll(pipe[0], pipe[1], memfd);
        }
        failsWith("EBADF", () -> Iommufd.fromFd(memfd));
    }

    @Test
    void vfioDeviceFromFdRefusesWhatIsNotAVfioCdevAndLeavesItOpen() throws Exception {
        int[] pipe = pipe();
        int devNull = Libc.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            IommufdException e = failsWith("ENODEV", () -> VfioDevice.fromFd(fd, pipe[0]));
            assertTrue(e.getMessage().contains("not a VFIO device cdev: pipe:["), e.getMessage());
            e = failsWith("ENODEV", () -> VfioDevice.fromFd(fd, devNull));
            assertTrue(e.getMessage().contains("/dev/null is char device major 1"), e.getMessage());
            assertTrue(isOpen(pipe[0]) && isOpen(devNull));
            closeAll(pipe[0]);
            failsWith("EBADF", () -> VfioDevice.fromFd(fd, pipe[0]));
        } finally {
            closeAll(pipe[1], devNull);
        }
    }

    // ---- a peer process that dies (a C program: also shows a C helper speaks the same protocol) ----

    static final String C_PEER = """
            #define _GNU_SOURCE
            #include <sys/socket.h>
            #include <sys/un.h>
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            /* peer PATH hang|exit: sends "from C" with a pipe's read end (hang) or both ends (exit) */
            int main(int argc, char **argv) {
                int s = socket(AF_UNIX, SOCK_SEQPACKET, 0), p[2], n = strcmp(argv[2], "hang") == 0 ? 1 : 2;
                struct sockaddr_un a = {.sun_family = AF_UNIX};
                strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
                if (connect(s, (struct sockaddr *)&a, sizeof a) < 0 || pipe(p) < 0) return 2;
                char data[] = "from C";
                struct iovec iov = {data, sizeof data - 1};
                union { struct cmsghdr h; char buf[CMSG_SPACE(2 * sizeof(int))]; } c;
                struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                                   .msg_controllen = CMSG_SPACE(n * sizeof(int))};
                struct cmsghdr *h = CMSG_FIRSTHDR(&m);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(h), p, n * sizeof(int));
                if (sendmsg(s, &m, 0) < 0) return 3;
                if (n == 1) for (;;) pause();
                return 0;
            }
            """;

    Path cPeer() throws Exception {
        Path src = dir.resolve("peer.c"), exe = dir.resolve("peer");
        Files.writeString(src, C_PEER);
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", "-O1", "-o", exe.toString(), src.toString()).redirectErrorStream(true).start();
        } catch (IOException noGcc) {
            Files.delete(src);
            assumeTrue(false, "no gcc: " + noGcc);
            throw noGcc;
        }
        String out = new String(gcc.getInputStream().readAllBytes());
        assertTrue(gcc.waitFor(120, TimeUnit.SECONDS) && gcc.exitValue() == 0, out);
        Files.delete(src);
        return exe;
    }

    @Test
    void aPeerProcessKilledMidwayIsPeerClosed() throws Exception {
        Path exe = cPeer();
        Path socket = dir.resolve("s.sock");
        try (FdListener listener = FdListener.bind(socket)) {
            Process peer = new ProcessBuilder(exe.toString(), socket.toString(), "hang").start();
            try (FdChannel ch = listener.accept(WAIT)) {
                assertEquals(peer.pid(), ch.peer().pid());
                int readEnd;
                try (ReceivedFds m = ch.receiveExactly(16, 1, WAIT)) {
                    assertEquals("from C", new String(m.payload(), StandardCharsets.UTF_8));
                    readEnd = m.take(0);
                }
                peer.destroyForcibly();
                assertTrue(peer.waitFor(30, TimeUnit.SECONDS));
                fails(Reason.PEER_CLOSED, () -> ch.receiveExactly(16, 1, WAIT));
                // The pipe came from the dead process: its write end died with it.
                MemorySegment b = arena.allocate(1);
                assertEquals(0, Libc.read(readEnd, b, 1), "end of file");
                closeAll(readEnd);
            } finally {
                peer.destroyForcibly().waitFor();
                closePeerStreams(peer);
            }
        } finally {
            Files.delete(exe);
        }
    }

    @Test
    void descriptorsSentByAPeerThatExitedStillArrive() throws Exception {
        Path exe = cPeer();
        Path socket = dir.resolve("s.sock");
        try (FdListener listener = FdListener.bind(socket)) {
            Process peer = new ProcessBuilder(exe.toString(), socket.toString(), "exit").start();
            try (FdChannel ch = listener.accept(WAIT)) {
                assertEquals(0, peer.waitFor(), "sent and exited");
                try (ReceivedFds m = ch.receiveExactly(16, 2, WAIT)) {
                    // The kernel kept the pipe alive in flight: write one end, read the other.
                    MemorySegment b = arena.allocate(1);
                    b.set(JAVA_BYTE, 0, (byte) 42);
                    assertEquals(1, Libc.write(m.fd(1), b, 1));
                    b.set(JAVA_BYTE, 0, (byte) 0);
                    assertEquals(1, Libc.read(m.fd(0), b, 1));
                    assertEquals(42, b.get(JAVA_BYTE, 0));
                }
                fails(Reason.PEER_CLOSED, () -> ch.receiveExactly(16, 2, WAIT));
            } finally {
                closePeerStreams(peer);
            }
        } finally {
            Files.delete(exe);
        }
    }

    /** The pipes ProcessBuilder opened to the peer are descriptors of ours too. */
    static void closePeerStreams(Process p) throws IOException {
        p.getInputStream().close();
        p.getErrorStream().close();
        p.getOutputStream().close();
    }
}
