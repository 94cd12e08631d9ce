package io.github.iommufd4j.uring;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.LongStream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** io_uring on the host kernel: round trips for each supported operation, probe, errors, lifecycle. */
class IoUringTest {
    private static final int EBADF = 9, ECANCELED = 125;

    private Arena arena;
    private IoUring ring;
    private final Recorder rec = new Recorder();
    private final List<Integer> fds = new ArrayList<>();
    private final List<Path> files = new ArrayList<>();

    @BeforeAll
    static void needsIoUring() {
        assumeTrue(IoUring.isAvailable(), IoUring.availability().reason());
    }

    @BeforeEach
    void setUp() throws IoUringException {
        arena = Arena.ofShared(); // shared: assertTimeoutPreemptively runs its body in another thread
        ring = IoUring.open(8);
    }

    @AfterEach
    void tearDown() throws Exception {
        ring.close();
        for (int fd : fds) Libc.close(fd);
        for (Path p : files) Files.deleteIfExists(p);
        arena.close();
    }

    // ------------------------------------------------------------ helpers

    private int[] pipe() {
        MemorySegment p = arena.allocate(JAVA_INT, 2);
        assertThat(Libc.pipe2(p, Libc.O_CLOEXEC)).isZero();
        int[] r = {p.getAtIndex(JAVA_INT, 0), p.getAtIndex(JAVA_INT, 1)};
        fds.add(r[0]);
        fds.add(r[1]);
        return r;
    }

    private int eventfd() {
        int fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        assertThat(fd).isNotNegative();
        fds.add(fd);
        return fd;
    }

    private void signal(int eventFd) {
        MemorySegment one = arena.allocate(JAVA_LONG);
        one.set(JAVA_LONG, 0, 1L);
        assertThat(Libc.write(eventFd, one, 8)).isEqualTo(8);
    }

    private void drain(int eventFd) {
        assertThat(Libc.read(eventFd, arena.allocate(JAVA_LONG), 8)).isEqualTo(8);
    }

    private int tempFile() throws Exception {
        Path p = Files.createTempFile("iouring", ".bin");
        files.add(p);
        int fd = Libc.open(p.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        assertThat(fd).isNotNegative();
        fds.add(fd);
        return fd;
    }

    private MemorySegment text(String s) {
        return arena.allocateFrom(s, StandardCharsets.US_ASCII).asSlice(0, s.length()); // without the NUL
    }

    private static String string(MemorySegment s, int n) {
        return new String(s.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.US_ASCII);
    }

    // ------------------------------------------------------------ tests

    @Test
    void availabilityNamesTheKernel() {
        assertThat(IoUring.availability().available()).isTrue();
        assertThat(IoUring.availability().reason()).contains("io_uring available", System.getProperty("os.version"));
    }

    @Test
    void nopRoundTrip() throws Exception {
        ring.nop(42);
        assertThat(ring.pending()).isEqualTo(1);
        assertThat(ring.submitAndWait(1)).isEqualTo(1);
        assertThat(ring.pending()).isZero();
        assertThat(ring.completionsReady()).isEqualTo(1);
        assertThat(ring.processCompletions(rec)).isEqualTo(1);
        assertThat(rec.count).isEqualTo(1);
        assertThat(rec.userData[0]).isEqualTo(42);
        assertThat(rec.res[0]).isZero();
        assertThat(rec.flags[0]).isZero();
        assertThat(ring.completionsReady()).isZero();
        assertThat(ring.processCompletions(rec)).isZero();
    }

    @Test
    void submitWithNothingQueuedIsANoOp() throws Exception {
        assertThat(ring.submit()).isZero();
    }

    @Test
    void readAndWriteOnAPipe() throws Exception {
        int[] p = pipe();
        MemorySegment out = text("hello, ring");
        MemorySegment in = arena.allocate(64);
        ring.write(p[1], out, IoUring.CURRENT_POSITION, 1);
        ring.read(p[0], in, IoUring.CURRENT_POSITION, 2);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(1)).isEqualTo(11);
        assertThat(rec.resOf(2)).isEqualTo(11);
        assertThat(string(in, 11)).isEqualTo("hello, ring");
    }

    @Test
    void readAndWriteOnATempFileAtAnOffset() throws Exception {
        int fd = tempFile();
        ring.write(fd, text("at 4096"), 4096, 1);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(1)).isEqualTo(7);

        MemorySegment in = arena.allocate(7);
        ring.read(fd, in, 4096, 2);
        MemorySegment hole = arena.allocate(16);
        ring.read(fd, hole, 0, 3);
        rec.awaitCount(ring, 3);
        assertThat(rec.resOf(2)).isEqualTo(7);
        assertThat(string(in, 7)).isEqualTo("at 4096");
        assertThat(rec.resOf(3)).isEqualTo(16);
        assertThat(hole.toArray(JAVA_BYTE)).containsOnly((byte) 0);
    }

    @Test
    void readvAndWritev() throws Exception {
        int fd = tempFile();
        MemorySegment iov = arena.allocate(IoUring.IOVEC, 2);
        IoUring.iovec(iov, 0, text("hello "));
        IoUring.iovec(iov, 1, text("world"));
        ring.writev(fd, iov, 2, 0, 1);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(1)).isEqualTo(11);

        MemorySegment a = arena.allocate(4), b = arena.allocate(7);
        MemorySegment riov = arena.allocate(IoUring.IOVEC, 2);
        IoUring.iovec(riov, 0, a);
        IoUring.iovec(riov, 1, b);
        ring.readv(fd, riov, 2, 0, 2);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(2)).isEqualTo(11);
        assertThat(string(a, 4) + string(b, 7)).isEqualTo("hello world");
    }

    @Test
    void failedOperationCompletesWithMinusErrno() throws Exception {
        ring.read(1_000_000, arena.allocate(8), 0, 5);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(5)).isEqualTo(-EBADF);
    }

    @Test
    void oneShotPollOnAnEventfd() throws Exception {
        int efd = eventfd();
        ring.pollAdd(efd, Libc.POLLIN, 7);
        assertThat(ring.submitAndWait(1, 20_000_000L)).isEqualTo(1); // times out: not readable yet
        assertThat(ring.processCompletions(rec)).isZero();
        signal(efd);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(7) & Libc.POLLIN).isEqualTo(Libc.POLLIN);
        assertThat(IoUring.hasMore(rec.flagsOf(7))).isFalse();
        // one-shot: a second event produces nothing
        signal(efd);
        ring.submitAndWait(1, 20_000_000L);
        assertThat(ring.processCompletions(rec)).isZero();
    }

    @Test
    void multishotPollEndedByPollRemove() throws Exception {
        int efd = eventfd();
        ring.pollAddMultishot(efd, Libc.POLLIN, 9);
        ring.submit();
        for (int i = 1; i <= 3; i++) {
            signal(efd);
            rec.awaitCount(ring, i);
            assertThat(rec.userData[i - 1]).isEqualTo(9);
            assertThat(rec.res[i - 1] & Libc.POLLIN).isEqualTo(Libc.POLLIN);
            assertThat(IoUring.hasMore(rec.flags[i - 1])).as("CQE_F_MORE on event %d", i).isTrue();
            drain(efd);
        }
        rec.clear();
        ring.pollRemove(9, 10);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(10)).isZero();
        assertThat(rec.resOf(9)).isEqualTo(-ECANCELED);
        assertThat(IoUring.hasMore(rec.flagsOf(9))).isFalse();
        // no longer armed
        signal(efd);
        ring.submitAndWait(1, 20_000_000L);
        assertThat(ring.processCompletions(rec)).isZero();
    }

    @Test
    void multishotPollEndedByAsyncCancel() throws Exception {
        int efd = eventfd();
        ring.pollAddMultishot(efd, Libc.POLLIN, 9);
        ring.submit();
        signal(efd);
        signal(efd); // two wakeups before reaping: two CQEs, both with MORE
        rec.awaitCount(ring, 2);
        assertThat(IoUring.hasMore(rec.flags[0]) && IoUring.hasMore(rec.flags[1])).isTrue();
        rec.clear();
        ring.cancel(9, 11);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(11)).isZero();
        assertThat(rec.resOf(9)).isEqualTo(-ECANCELED);
        assertThat(IoUring.hasMore(rec.flagsOf(9))).isFalse();
    }

    @Test
    void probeReportsSupportedAndBogusOpcodes() {
        assertThat(ring.supports(Uapi.IORING_OP_NOP())).isTrue();
        assertThat(ring.supports(Uapi.IORING_OP_READ())).isTrue();
        assertThat(ring.supports(Uapi.IORING_OP_POLL_ADD())).isTrue();
        assertThat(ring.supports(250)).isFalse();
        assertThat(ring.supports(-1)).isFalse();
        Probe probe = ring.probe();
        assertThat(probe.lastOp()).isGreaterThanOrEqualTo(Uapi.IORING_OP_POLL_ADD());
        assertThat(probe.supportedOpcodes()).contains("IORING_OP_NOP", "IORING_OP_READ", "IORING_OP_POLL_ADD");
        assertThat(Probe.opcodeName(Uapi.IORING_OP_ASYNC_CANCEL())).isEqualTo("IORING_OP_ASYNC_CANCEL");
        assertThat(Probe.opcodeName(250)).isEqualTo("opcode 250");
    }

    @Test
    void unsupportedOpcodeIsRefusedByName() throws Exception {
        assertThatThrownBy(() -> ring.prepare(250, -1, 0, 0, 0, 0, 1))
                .isInstanceOf(IoUringException.class)
                .hasMessageContaining("opcode 250")
                .hasMessageContaining("not supported by the running kernel")
                .satisfies(e -> assertThat(((IoUringException) e).errnoName()).isEqualTo("EOPNOTSUPP"));
        assertThat(ring.pending()).isZero();
    }

    @Test
    void fullSubmissionQueueIsSubmittedAutomatically() throws Exception {
        try (IoUring small = IoUring.open(4)) {
            assertThat(small.sqEntries()).isEqualTo(4);
            assertThat(small.cqEntries()).isEqualTo(8);
            int n = 20; // more than the SQ and the CQ: the CQ overflows, and the kernel keeps the rest
            for (int i = 0; i < n; i++) {
                small.nop(i);
                assertThat(small.pending()).isBetween(1, 4);
            }
            small.submit();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (rec.count < n && System.nanoTime() < deadline) {
                small.processCompletions(rec);
            }
            assertThat(rec.count).isEqualTo(n);
            assertThat(IntStream.range(0, n).mapToLong(i -> rec.userData[i]).sorted().toArray())
                    .containsExactly(IntStream.range(0, n).asLongStream().toArray());
            assertThat(small.cqOverflowCount()).isZero(); // IORING_FEAT_NODROP: nothing lost
        }
    }

    @Test
    void closeIsIdempotentAndLaterUseSaysClosed() throws Exception {
        ring.close();
        ring.close();
        assertThat(ring.isClosed()).isTrue();
        assertThatThrownBy(() -> ring.nop(1)).isInstanceOf(IoUringException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> ring.submit()).isInstanceOf(IoUringException.class)
                .hasMessage("io_uring_enter: EBADF (Bad file descriptor): the ring is closed");
        assertThatThrownBy(() -> ring.processCompletions(rec)).isInstanceOf(IoUringException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> ring.registerFiles(0)).isInstanceOf(IoUringException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> ring.pending()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void closeFromManyThreadsAtOnce() throws Exception {
        IoUring r = IoUring.open(4);
        Thread[] ts = new Thread[4];
        for (int i = 0; i < ts.length; i++) ts[i] = Thread.ofPlatform().start(r::close);
        for (Thread t : ts) t.join();
        assertThat(r.isClosed()).isTrue();
    }

    @Test
    void closingWithAnArmedMultishotPollDoesNotHang() {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            int efd = eventfd();
            IoUring r = IoUring.open(4);
            r.pollAddMultishot(efd, Libc.POLLIN, 1);
            r.submit();
            signal(efd);
            rec.awaitCount(r, 1);
            assertThat(IoUring.hasMore(rec.flags[0])).isTrue();
            r.close(); // still armed
            signal(efd); // the poll is gone with the ring; the eventfd is unaffected
            drain(efd);
        });
    }

    @Test
    void timedWaitReturnsWhenTheTimeoutExpires() throws Exception {
        long t0 = System.nanoTime();
        assertThat(ring.submitAndWait(1, 50_000_000L)).isZero();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(ms).isBetween(40L, 2_000L);
        assertThat(ring.completionsReady()).isZero();
    }

    @Test
    void registeredFiles() throws Exception {
        int[] p = pipe();
        ring.registerFiles(p[0], p[1]);
        MemorySegment in = arena.allocate(16);
        ring.write(1, text("fixed"), IoUring.CURRENT_POSITION, 1); // index 1 = write end
        ring.setLastSqeFlags(IoUring.SQE_FIXED_FILE);
        ring.read(0, in, IoUring.CURRENT_POSITION, 2);             // index 0 = read end
        ring.setLastSqeFlags(IoUring.SQE_FIXED_FILE);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(1)).isEqualTo(5);
        assertThat(rec.resOf(2)).isEqualTo(5);
        assertThat(string(in, 5)).isEqualTo("fixed");
        ring.unregisterFiles();
        assertThatThrownBy(() -> ring.unregisterFiles()).isInstanceOf(IoUringException.class)
                .hasMessageStartingWith("io_uring_register(IORING_UNREGISTER_FILES): ENXIO");
    }

    @Test
    void registeredBuffers() throws Exception {
        int[] p = pipe();
        MemorySegment buf = arena.allocate(8192, 4096);
        ring.registerBuffers(buf);
        MemorySegment out = buf.asSlice(0, 6), in = buf.asSlice(4096, 6);
        out.copyFrom(text("pinned"));
        ring.writeFixed(p[1], out, IoUring.CURRENT_POSITION, 0, 1);
        ring.readFixed(p[0], in, IoUring.CURRENT_POSITION, 0, 2);
        rec.awaitCount(ring, 2);
        assertThat(rec.resOf(1)).isEqualTo(6);
        assertThat(rec.resOf(2)).isEqualTo(6);
        assertThat(string(in, 6)).isEqualTo("pinned");
        ring.unregisterBuffers();
    }

    @Test
    void setLastSqeFlagsNeedsAPreparedSqe() throws Exception {
        assertThatThrownBy(() -> ring.setLastSqeFlags(IoUring.SQE_ASYNC)).isInstanceOf(IllegalStateException.class);
        ring.nop(1);
        ring.setLastSqeFlags(IoUring.SQE_ASYNC);
        ring.submit();
        assertThatThrownBy(() -> ring.setLastSqeFlags(IoUring.SQE_ASYNC)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void heapSegmentsAreRefused() {
        assertThatThrownBy(() -> ring.read(0, MemorySegment.ofArray(new byte[8]), 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("native memory");
    }

    @Test
    void unsupportedSetupFlagsAreRefused() {
        assertThatThrownBy(() -> IoUring.open(4, 0, Uapi.IORING_SETUP_SQPOLL()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not supported");
    }

    @Test
    void setupErrorsCarryTheErrno() {
        assertThatThrownBy(() -> IoUring.open(1 << 20)) // above IORING_MAX_ENTRIES, no CLAMP
                .isInstanceOf(IoUringException.class)
                .hasMessageStartingWith("io_uring_setup: EINVAL (Invalid argument)")
                .satisfies(e -> assertThat(((IoUringException) e).errno()).isEqualTo(22));
    }

    @Test
    void handlerExceptionConsumesTheCompletionThatThrew() throws Exception {
        ring.nop(1);
        ring.nop(2);
        ring.submitAndWait(2);
        assertThatThrownBy(() -> ring.processCompletions((ud, res, flags) -> {
            if (ud == 1) throw new IllegalStateException("boom");
        })).hasMessage("boom");
        assertThat(ring.processCompletions(rec)).isEqualTo(1);
        assertThat(rec.userData[0]).isEqualTo(2);
    }

    @Test
    void processCompletionsIsNotReentrant() throws Exception {
        ring.nop(1);
        ring.submitAndWait(1);
        assertThatThrownBy(() -> ring.processCompletions((ud, res, flags) -> {
            try {
                ring.processCompletions(rec);
            } catch (IoUringException e) {
                throw new AssertionError(e);
            }
        })).isInstanceOf(IllegalStateException.class).hasMessageContaining("handler");
    }

    @Test
    void handlerMaySubmitMore() throws Exception {
        ring.nop(1);
        ring.submitAndWait(1);
        ring.processCompletions((ud, res, flags) -> {
            try {
                ring.nop(ud + 1);
            } catch (IoUringException e) {
                throw new AssertionError(e);
            }
        });
        rec.awaitCount(ring, 1);
        assertThat(rec.userData[0]).isEqualTo(2);
    }

    @Test
    void deferTaskrunSingleIssuerRing() throws Exception {
        try (IoUring r = IoUring.open(8, 0, Uapi.IORING_SETUP_SINGLE_ISSUER() | Uapi.IORING_SETUP_DEFER_TASKRUN())) {
            int[] p = pipe();
            MemorySegment in = arena.allocate(8);
            r.read(p[0], in, IoUring.CURRENT_POSITION, 1); // parks on poll; completes as deferred task work
            r.submit();
            MemorySegment out = text("late");
            assertThat(Libc.write(p[1], out, 4)).isEqualTo(4);
            rec.awaitCount(r, 1);
            assertThat(rec.resOf(1)).isEqualTo(4);
            assertThat(string(in, 4)).isEqualTo("late");
        }
    }

    @Test
    void bigSqesAndCqes() throws Exception {
        try (IoUring r = IoUring.open(4, 16, Uapi.IORING_SETUP_SQE128() | Uapi.IORING_SETUP_CQE32()
                | Uapi.IORING_SETUP_NO_SQARRAY())) {
            assertThat(r.cqEntries()).isEqualTo(16);
            for (int i = 0; i < 10; i++) r.nop(100 + i);
            rec.awaitCount(r, 10);
            assertThat(IntStream.range(0, 10).mapToLong(i -> rec.userData[i]).toArray())
                    .containsExactly(LongStream.range(100, 110).toArray());
        }
    }
}
