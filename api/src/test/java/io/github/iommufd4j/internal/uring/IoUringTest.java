package io.github.iommufd4j.internal.uring;

import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.bindings.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/** The pump's io_uring on the host kernel: the operations it uses, errors, lifecycle. */
class IoUringTest {
    private static final int EBADF = 9, ECANCELED = 125;

    private Arena arena;
    private IoUring ring;
    private final Recorder rec = new Recorder();
    private final List<Integer> fds = new ArrayList<>();

    @BeforeEach
    void setUp() throws IoUringException {
        arena = Arena.ofShared(); // shared: assertTimeoutPreemptively runs its body in another thread
        ring = IoUring.open(8);
    }

    @AfterEach
    void tearDown() {
        ring.close();
        for (int fd : fds) Libc.close(fd);
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

    private void write(int fd, String s) {
        MemorySegment text = arena.allocateFrom(s, StandardCharsets.US_ASCII);
        assertThat(Libc.write(fd, text, s.length())).isEqualTo(s.length());
    }

    private static String string(MemorySegment s, int n) {
        return new String(s.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.US_ASCII);
    }

    // ------------------------------------------------------------ tests

    @Test
    void readOnAPipe() throws Exception {
        int[] p = pipe();
        write(p[1], "hello, ring");
        MemorySegment in = arena.allocate(64);
        ring.read(p[0], in, 0, 2);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(2)).isEqualTo(11);
        assertThat(string(in, 11)).isEqualTo("hello, ring");
    }

    @Test
    void aReadParksUntilDataArrives() throws Exception {
        int[] p = pipe();
        MemorySegment in = arena.allocate(8);
        ring.read(p[0], in, 0, 1);
        ring.submit();
        assertThat(ring.processCompletions(rec)).isZero();
        write(p[1], "late");
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(1)).isEqualTo(4);
        assertThat(string(in, 4)).isEqualTo("late");
    }

    @Test
    void fullSubmissionQueueIsSubmittedAutomaticallyAndAnOverflowingCqLosesNothing() throws Exception {
        try (IoUring small = IoUring.open(4)) {
            assertThat(small.sqEntries()).isEqualTo(4);
            assertThat(small.cqEntries()).isEqualTo(8);
            int[] p = pipe();
            int n = 20; // more than the SQ and the CQ: the kernel keeps the completions that do not fit
            write(p[1], "x".repeat(n));
            for (int i = 0; i < n; i++) small.read(p[0], arena.allocate(1), 0, i);
            small.submit();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (rec.count < n && System.nanoTime() < deadline) small.processCompletions(rec);
            assertThat(rec.count).isEqualTo(n);
            assertThat(IntStream.range(0, n).mapToLong(i -> rec.userData[i]).sorted().toArray())
                    .containsExactly(IntStream.range(0, n).asLongStream().toArray());
            assertThat(IntStream.range(0, n).map(i -> rec.res[i]).toArray()).containsOnly(1);
        }
    }

    @Test
    void closeIsIdempotentAndLaterUseSaysClosed() throws Exception {
        ring.close();
        ring.close();
        assertThat(ring.isClosed()).isTrue();
        assertThatThrownBy(() -> ring.pollAddMultishot(0, Libc.POLLIN, 1)).isInstanceOf(IoUringException.class)
                .hasMessageContaining("the ring is closed");
        assertThatThrownBy(() -> ring.submit()).isInstanceOf(IommufdException.class)
                .hasMessageMatching("io_uring_enter\\(ring=\\d+\\): EBADF \\(Bad file descriptor\\): the ring is closed")
                .satisfies(e -> assertThat(((IommufdException) e).errnoName()).isEqualTo("EBADF"));
        assertThatThrownBy(() -> ring.processCompletions(rec)).isInstanceOf(IoUringException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void entriesOutsideWhatTheKernelTakesAreRefusedBeforeAnySystemCall() {
        assertThatThrownBy(() -> IoUring.open(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1..32768");
        assertThatThrownBy(() -> IoUring.open(IoUring.MAX_ENTRIES + 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void handlerExceptionConsumesTheCompletionThatThrew() throws Exception {
        int[] p = pipe();
        write(p[1], "ab");
        ring.read(p[0], arena.allocate(1), 0, 1);
        ring.read(p[0], arena.allocate(1), 0, 2);
        ring.submitAndWait(2);
        assertThatThrownBy(() -> ring.processCompletions((ud, res, flags) -> {
            if (ud == 1) throw new IllegalStateException("boom");
        })).hasMessage("boom");
        assertThat(ring.processCompletions(rec)).isEqualTo(1);
        assertThat(rec.userData[0]).isEqualTo(2);
    }

    @Test
    void processCompletionsIsNotReentrant() throws Exception {
        int[] p = pipe();
        write(p[1], "a");
        ring.read(p[0], arena.allocate(1), 0, 1);
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
    void handlerMayQueueMore() throws Exception {
        int[] p = pipe();
        write(p[1], "ab");
        ring.read(p[0], arena.allocate(1), 0, 1);
        ring.submitAndWait(1);
        MemorySegment second = arena.allocate(1);
        ring.processCompletions((ud, res, flags) -> {
            try {
                ring.read(p[0], second, 0, ud + 1);
            } catch (IoUringException e) {
                throw new AssertionError(e);
            }
        });
        rec.awaitCount(ring, 1);
        assertThat(rec.userData[0]).isEqualTo(2);
        assertThat(string(second, 1)).isEqualTo("b");
    }

    @Test
    void failedOperationCompletesWithMinusErrno() throws Exception {
        ring.read(1_000_000, arena.allocate(8), 0, 5);
        rec.awaitCount(ring, 1);
        assertThat(rec.resOf(5)).isEqualTo(-EBADF);
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
    void onlyTheOwningThreadClosesTheRingAndTwiceIsOnce() throws Exception {
        IoUring r = IoUring.open(4);
        java.util.concurrent.atomic.AtomicReference<Throwable> other = new java.util.concurrent.atomic.AtomicReference<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                r.close();
            } catch (Throwable e) {
                other.set(e);
            }
        });
        t.join();
        assertThat(other.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("belongs to thread");
        assertThat(r.isClosed()).isFalse();
        int efd = eventfd();
        r.pollAdd(efd, Libc.POLLIN, 5); // the refused close left the ring working
        signal(efd);
        rec.awaitCount(r, 1);
        assertThat(rec.resOf(5)).isPositive();
        r.close();
        r.close();
        assertThat(r.isClosed()).isTrue();
        assertThatThrownBy(r::submit).isInstanceOf(IoUringException.class).hasMessageContaining("closed");
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
        assertThat(ms).isGreaterThanOrEqualTo(40L);
        assertThat(ring.completionsReady()).isZero();
    }

    @Test
    void heapSegmentsAreRefused() {
        assertThatThrownBy(() -> ring.read(0, MemorySegment.ofArray(new byte[8]), 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("native memory");
    }

    @Test
    void theRingIsInternalAndItsErrorsAreIommufdExceptions() {
        java.lang.module.ModuleDescriptor d = IoUring.class.getModule().getDescriptor();
        assertThat(d).as("the api runs as a module").isNotNull();
        assertThat(d.exports()).filteredOn(e -> e.source().equals(IoUring.class.getPackageName()))
                .singleElement().satisfies(e -> assertThat(e.targets()).containsExactly("io.github.iommufd4j.cli"));
        assertThat(d.exports()).noneMatch(e -> e.source().endsWith(".uring") && !e.isQualified());
        assertThat(IommufdException.class).isAssignableFrom(IoUringException.class);
    }
}
