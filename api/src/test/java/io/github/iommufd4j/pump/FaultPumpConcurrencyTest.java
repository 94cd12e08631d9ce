package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Answers from several threads at once (right ones, repeated ones, made-up ones) while faults flow,
 * then closes from several threads while the answers keep coming: every group is answered exactly
 * once, every call returns, and the pump leaves no thread and no fd behind.
 */
class FaultPumpConcurrencyTest {
    static final int FAULTS = Integer.getInteger("iommufd4j.pump.concurrencyFaults", 10_000), RESPONDERS = 4;

    @Test
    void concurrentAnswersAndClosesNeverHangNorAnswerAGroupTwice() {
        assertTimeoutPreemptively(Duration.ofMinutes(5), this::run, "hang");
    }

    private void run() throws Exception {
        try (Iommufd fd = Iommufd.open()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            long fds = FaultPumpSetupTest.openFds();
            ConcurrentLinkedQueue<Long> tickets = new ConcurrentLinkedQueue<>();
            FaultHandler handler = (queue, f, first, count, ticket) -> {
                int r = f.groupId(first) % 4;
                if (r == 0) return PageResponses.SUCCESS;
                tickets.add(ticket);
                return FaultHandler.DEFERRED;
            };
            FaultPump pump = FaultPump.start(List.of(q), handler, 16, 64);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong accepted = new AtomicLong();
            AtomicReference<Throwable> error = new AtomicReference<>();
            List<Thread> responders = new ArrayList<>();
            for (int t = 0; t < RESPONDERS; t++) {
                responders.add(Thread.ofPlatform().start(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    try {
                        while (!stop.get()) {
                            Long ticket = tickets.poll();
                            if (ticket == null) { // a made-up ticket, then room for the pump (2 cores are shared)
                                if (pump.respond(rnd.nextLong(), PageResponses.SUCCESS)) accepted.incrementAndGet(); // never
                                java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                                continue;
                            }
                            if (pump.respond(ticket, PageResponses.SUCCESS)) accepted.incrementAndGet();
                            // Twice: the second must be refused.
                            if (pump.respond(ticket, PageResponses.INVALID)) accepted.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        error.compareAndSet(null, e);
                    }
                }));
            }
            for (int i = 0; i < FAULTS; i++) dev.triggerPageFault(0, i & 0xffff, PageFaults.PERM_READ, 0x1000L * (i & 0xfff));
            long deferred = FAULTS - (FAULTS + 3) / 4;
            long deadline = System.nanoTime() + 240_000_000_000L;
            while ((pump.faults() < FAULTS || accepted.get() < deferred) && System.nanoTime() < deadline) Thread.sleep(2);
            assertEquals(FAULTS, pump.faults());
            assertEquals(deferred, accepted.get(), "each deferred group answered exactly once");
            assertTrue(pump.rejectedAnswers() >= deferred, "every second answer was refused: " + pump.rejectedAnswers());
            // More faults, deferred and unanswered, then several closes while the responders go on.
            for (int i = 0; i < 200; i++) dev.triggerPageFault(0, 1 + 4 * i, PageFaults.PERM_READ, 0x1000L * i);
            // The pump reads them all before the closes (on a loaded machine it may lag): the check
            // below is that what it read is answered by close, not that it reads fast.
            while (pump.faults() < FAULTS + 200 && System.nanoTime() < deadline) Thread.sleep(2);
            assertEquals(FAULTS + 200, pump.faults());
            List<Thread> closers = new ArrayList<>();
            for (int t = 0; t < 3; t++) closers.add(Thread.ofPlatform().start(pump::close));
            for (Thread t : closers) t.join();
            long afterClose = accepted.get();
            Thread.sleep(20);
            stop.set(true);
            for (Thread t : responders) t.join();
            assertNull(error.get(), () -> "respond threw: " + error.get());
            assertEquals(afterClose, accepted.get(), "nothing accepted after close");
            assertEquals(0, pump.refusedAnswers(), "the kernel never saw an answer twice");
            assertNull(pump.failure());
            assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(pump.threadName()) && t.isAlive()));
            assertEquals(fds, FaultPumpSetupTest.openFds(), "the pump let go of every fd");
            assertEquals(0, q.read(new PageFaults(16)), "everything read was answered");
        }
    }
}
