package io.github.iommufd4j.internal.uring;

import io.github.iommufd4j.bindings.Libc;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Steady-state submit + complete allocates nothing: measured with the current thread's allocation
 * counter over 100k round trips after a warm-up that lets the JIT compile the path.
 */
class IoUringAllocationTest {
    private static final int WARMUP = 200_000, ROUNDS = 100_000;

    static byte[] sink;
    /** Round trips the last warm-up took. */
    static int warmedUp;

    @BeforeAll
    static void setUp() throws Throwable {
        // The counter must see allocations at all, or a zero below would prove nothing.
        long before = allocated();
        sink = new byte[4096];
        assertThat(allocated() - before).isGreaterThanOrEqualTo(4096);
    }

    private static long allocated() {
        return io.github.iommufd4j.testing.Allocations.currentThread();
    }

    /** Counts completions; one instance reused for every call. */
    private static final class Counter implements CompletionHandler {
        long count, sum;

        @Override
        public void complete(long userData, int res, int flags) {
            count++;
            sum += userData + res;
        }
    }

    @FunctionalInterface
    private interface Round {
        void run(int i) throws Exception;
    }

    /** Warms up (at least WARMUP round trips, more while the JIT still leaves allocations), then measures. */
    private static double bytesPerOp(Round round) throws Throwable {
        int warm = 0;
        for (int pass = 0; pass < 20; pass++) {
            long before = allocated();
            for (int i = 0; i < WARMUP / 2; i++) round.run(warm++);
            if (warm >= WARMUP && allocated() - before < WARMUP / 200) break; // settled: under 0.01 bytes per op
        }
        warmedUp = warm;
        long before = allocated();
        for (int i = 0; i < ROUNDS; i++) round.run(warm + i);
        long after = allocated();
        double perOp = (after - before) / (double) ROUNDS;
        System.out.printf("io_uring allocation: %d bytes over %d round trips = %.4f bytes/op%n",
                after - before, ROUNDS, perOp);
        return perOp;
    }

    @Test
    void eventfdMultishotPollRoundTripsAllocateNothing() throws Throwable {
        Counter counter = new Counter();
        int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        assertThat(efd).isNotNegative();
        try (Arena arena = Arena.ofConfined(); IoUring ring = IoUring.open(64)) {
            MemorySegment one = arena.allocate(JAVA_LONG);
            one.set(JAVA_LONG, 0, 1L);
            MemorySegment sink = arena.allocate(JAVA_LONG);
            ring.pollAddMultishot(efd, Libc.POLLIN, 1);
            ring.submit();
            double perOp = bytesPerOp(i -> {
                Libc.write(efd, one, 8);           // readiness
                ring.submitAndWait(1);             // wait for the poll CQE (CQE_F_MORE: stays armed)
                ring.processCompletions(counter);
                Libc.read(efd, sink, 8);           // consume the event
            });
            assertThat(counter.count).isEqualTo(warmedUp + ROUNDS);
            assertThat(perOp).isLessThan(1.0);
        } finally {
            Libc.close(efd);
        }
    }

    @Test
    void pipeReadRoundTripsAllocateNothing() throws Throwable {
        Counter counter = new Counter();
        try (Arena arena = Arena.ofConfined(); IoUring ring = IoUring.open(64)) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            assertThat(Libc.pipe2(fds, Libc.O_CLOEXEC)).isZero();
            int in = fds.getAtIndex(JAVA_INT, 0), out = fds.getAtIndex(JAVA_INT, 1);
            try {
                MemorySegment one = arena.allocate(JAVA_LONG), buf = arena.allocate(JAVA_LONG);
                double perOp = bytesPerOp(i -> {
                    Libc.write(out, one, 8);
                    ring.read(in, buf, 0, i);          // what the pump's RING path does per batch
                    ring.submitAndWait(1);
                    ring.processCompletions(counter);
                });
                assertThat(counter.count).isEqualTo(warmedUp + ROUNDS);
                assertThat(perOp).isLessThan(1.0);
            } finally {
                Libc.close(in);
                Libc.close(out);
            }
        }
    }
}
