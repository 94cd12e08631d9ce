package io.github.iommufd4j.contract;

import io.github.iommufd4j.Backend;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The io_uring fault pump over real fault queues (the kernel's, or the software backend's). */
class FaultPumpContractTest extends ContractTestBase {
    static final int FAULTS = Integer.getInteger("iommufd4j.pump.faults", 2000);
    final List<MockDevice> devices = new ArrayList<>();
    final List<FaultQueue> queues = new ArrayList<>();

    @BeforeEach
    void devicesBehindFaultQueues() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        for (int i = 0; i < 3; i++) {
            FaultQueue q = fd.allocFaultQueue();
            devices.add(mock.addFaultingDevice(ioas, q));
            queues.add(q);
        }
    }

    /** Each fault's (device, group) seen by the handler, once. */
    static final class Seen {
        final BitSet[] groups = {new BitSet(), new BitSet(), new BitSet()};
        int duplicates, total, wrongPasid;

        synchronized void add(int queue, int grpid, int pasid, boolean pasidValid) {
            // Fault n is triggered with pasid n % 4 (0: no PASID) and grpid n / 3 on device n % 3.
            int expected = (grpid * 3 + queue) % 4;
            if (pasid != expected || pasidValid != (expected != 0)) wrongPasid++;
            if (groups[queue].get(grpid)) duplicates++;
            groups[queue].set(grpid);
            total++;
        }
    }

    @Test
    void everyFaultOfSeveralQueuesAndPasidsIsHandledOnceAndAnswered() throws Exception {
        handleEveryFault(FaultPump.RecordPath.SYSCALLS);
    }

    @Test
    void ringReadsOnReadinessDeliverTheSameOnTheKernelsFds() throws Exception {
        if (fd.backend() == Backend.SOFTWARE) {
            // The software backend's records are taken through its model, never by the ring.
            FaultHandler h = (q, f, first, count, ticket) -> PageResponses.SUCCESS;
            assertThrows(IllegalArgumentException.class,
                    () -> FaultPump.start(queues, h, List.of(), null, 32, 256, FaultPump.RecordPath.RING));
            return;
        }
        handleEveryFault(FaultPump.RecordPath.RING);
    }

    private void handleEveryFault(FaultPump.RecordPath path) throws Exception {
        Seen seen = new Seen();
        FaultHandler handler = (q, f, first, count, ticket) -> {
            for (int i = first; i < first + count; i++) {
                seen.add(queues.indexOf(q), f.groupId(i), f.pasidValid(i) ? f.pasid(i) : 0, f.pasidValid(i));
            }
            return PageResponses.SUCCESS;
        };
        try (FaultPump pump = FaultPump.start(queues, handler, List.of(), null, 32, 256, path)) {
            for (int n = 0; n < FAULTS; n++) {
                devices.get(n % 3).triggerPageFault(n % 4, n / 3, PageFaults.PERM_READ, 0x1000L * n);
            }
            awaitCount(pump, FAULTS);
            assertEquals(0, pump.handlerErrors());
            assertNull(pump.failure());
            assertEquals(path, pump.recordPath());
            System.out.printf("fault pump (%s, %s): %d faults in %d batches, io-wq workers of the pump thread: %d; %s%n",
                    fd.backend(), path, pump.faults(), pump.batches(), pump.ioWorkers(), pump);
            if (fd.backend() == Backend.NATIVE) {
                // O_NONBLOCK on the fault fd: the ring performs its reads and writes inline, no io-wq worker.
                assertEquals(0, pump.ioWorkers());
                assertEquals(0, pump.writes(), "every answer went out through the ring, none with write(2)");
            }
        }
        assertEquals(FAULTS, seen.total);
        assertEquals(0, seen.duplicates);
        assertEquals(0, seen.wrongPasid);
        for (int q = 0; q < 3; q++) assertEquals((FAULTS - q + 2) / 3, seen.groups[q].cardinality());
        // Everything was answered: nothing left to read, and each queue accepts no stale cookie.
        for (FaultQueue q : queues) assertEquals(0, q.read(new PageFaults(4)));
    }

    @Test
    void deferredAnswersFromAnotherThreadAndHandlerErrorsAreAnsweredInvalid() throws Exception {
        ConcurrentLinkedQueue<Long> tickets = new ConcurrentLinkedQueue<>();
        FaultHandler handler = (q, f, first, count, ticket) -> {
            if (f.groupId(first) % 10 == 0) throw new IllegalStateException("handler failure for the test");
            tickets.add(ticket);
            return FaultHandler.DEFERRED;
        };
        int n = 300;
        try (FaultPump pump = FaultPump.start(queues, handler, 16, 64)) {
            Thread answerer = Thread.ofPlatform().start(() -> {
                int answered = 0;
                while (answered < n - n / 10) {
                    Long t = tickets.poll();
                    if (t == null) {
                        Thread.onSpinWait();
                        continue;
                    }
                    pump.respond(t, PageResponses.SUCCESS);
                    answered++;
                }
            });
            for (int i = 0; i < n; i++) devices.get(0).triggerPageFault(0, i, PageFaults.PERM_WRITE, 0x1000L * i);
            awaitCount(pump, n);
            answerer.join(TimeUnit.SECONDS.toMillis(60));
            assertFalse(answerer.isAlive(), "all deferred groups were answered");
            assertEquals(n / 10, pump.handlerErrors());
        }
    }

    @Test
    void closingThePumpWithGroupsWaitingAnswersThemAndLeavesNoThread() throws Exception {
        FaultHandler never = (q, f, first, count, ticket) -> FaultHandler.DEFERRED;
        FaultPump pump = FaultPump.start(queues, never, 8, 100);
        for (int i = 0; i < 20; i++) devices.get(1).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
        awaitCount(pump, 20);
        pump.close();
        pump.close(); // idempotent
        assertNull(pump.failure());
        assertFalse(Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals(pump.threadName()) && t.isAlive()), "pump thread ended");
    }

    @Test
    void queuesCanBeDestroyedRightAfterTheirPumpClosed() throws Exception {
        // The pump cancels and reaps its polls before closing the ring: none holds a queue's fd.
        Ioas ioas = fd.allocIoas();
        for (int round = 0; round < 10; round++) {
            List<FaultQueue> qs = new java.util.ArrayList<>();
            List<MockDevice> devs = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                qs.add(fd.allocFaultQueue());
                devs.add(mock.addFaultingDevice(ioas, qs.get(i)));
            }
            try (FaultPump pump = FaultPump.start(qs, (queue, f, first, count, ticket) -> PageResponses.SUCCESS, 16, 64)) {
                for (int i = 0; i < 200; i++) devs.get(i % 8).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
                awaitCount(pump, 200);
            }
            for (MockDevice d : devs) d.close();
            for (FaultQueue q : qs) q.close(); // DESTROY: EBUSY if a poll still held the fd
        }
    }

    @Test
    void ringPumpClosingWithReadsInFlightAnswersAndReleasesTheQueues() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(fd.backend() == Backend.NATIVE, "RecordPath.RING reads the kernel's fds");
        FaultHandler deferEven = (q, f, first, count, ticket) -> f.groupId(first) % 2 == 0 ? FaultHandler.DEFERRED : PageResponses.SUCCESS;
        FaultPump pump = FaultPump.start(queues, deferEven, List.of(), null, 8, 100, FaultPump.RecordPath.RING);
        for (int i = 0; i < 40; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
        awaitCount(pump, 40);
        pump.close(); // a read per queue is in flight; 20 groups wait for an answer
        assertNull(pump.failure());
        assertFalse(Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals(pump.threadName()) && t.isAlive()), "pump thread ended");
        for (FaultQueue q : queues) {
            assertEquals(0, q.read(new PageFaults(4)), "everything was answered, nothing left to read");
            // The pump restored the fd's flags: no O_NONBLOCK left behind.
            assertEquals(0, io.github.iommufd4j.bindings.Libc.fcntl(q.fd(), io.github.iommufd4j.bindings.Libc.F_GETFL, 0)
                    & io.github.iommufd4j.bindings.Libc.O_NONBLOCK);
        }
        for (MockDevice d : devices) d.close();
        for (FaultQueue q : queues) q.close(); // DESTROY: EBUSY if a cancelled read still held the fd
    }

    @Test
    void twoPumpsOnOneQueueKeepItNonBlockingUntilTheLastLetsGo() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(fd.backend() == Backend.NATIVE, "O_NONBLOCK on the kernel's fault fd");
        FaultQueue q = queues.get(0);
        FaultHandler ok = (queue, f, first, count, ticket) -> PageResponses.SUCCESS;
        int before = io.github.iommufd4j.bindings.Libc.fcntl(q.fd(), io.github.iommufd4j.bindings.Libc.F_GETFL, 0);
        assertEquals(0, before & io.github.iommufd4j.bindings.Libc.O_NONBLOCK);
        FaultPump first = FaultPump.start(q, ok);
        try (FaultPump second = FaultPump.start(q, ok)) {
            first.close();
            // The file's flags are shared: the first pump must not have taken O_NONBLOCK from the second.
            assertNotEquals(0, io.github.iommufd4j.bindings.Libc.fcntl(q.fd(), io.github.iommufd4j.bindings.Libc.F_GETFL, 0)
                    & io.github.iommufd4j.bindings.Libc.O_NONBLOCK, "O_NONBLOCK while the second pump serves the queue");
            for (int i = 0; i < 20; i++) devices.get(0).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(second, 20);
            assertEquals(0, second.ioWorkers(), "the ring wrote the answers inline, no io-wq worker");
        }
        assertEquals(before, io.github.iommufd4j.bindings.Libc.fcntl(q.fd(), io.github.iommufd4j.bindings.Libc.F_GETFL, 0),
                "the last pump restored the flags it found");
        assertEquals(0, q.read(new PageFaults(4)), "every fault was answered");
    }

    // ---- bad input and misuse: each isolated, counted, and the pump keeps serving

    @Test
    void startRefusesBadArgumentsBeforeOpeningAnything() throws Exception {
        FaultHandler ok = (q, f, first, count, ticket) -> PageResponses.SUCCESS;
        long fds = openFds(), threads = pumpThreads();
        for (int batch : new int[] {-1, 0, FaultPump.MAX_BATCH + 1, 400_000_000}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FaultPump.start(queues, ok, batch, 64));
            assertTrue(e.getMessage().contains("batch must be 1..4096"), e.getMessage());
        }
        for (int max : new int[] {-1, 0, FaultPump.MAX_OUTSTANDING + 1, Integer.MAX_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FaultPump.start(queues, ok, 16, max));
            assertTrue(e.getMessage().contains("maxOutstanding must be 1..65536"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(queues, null, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(null, ok, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start((FaultQueue) null, ok));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(List.of(), ok, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(java.util.Arrays.asList(queues.get(0), null), ok, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(List.of(queues.get(0), queues.get(0)), ok, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(queues, ok, null, null, 16, 64));
        assertThrows(IllegalArgumentException.class, () -> FaultPump.start(queues, ok, List.of(), null, 16, 64, null));
        FaultQueue closed = fd.allocFaultQueue();
        closed.close();
        assertErrno("EBADF", () -> FaultPump.start(List.of(queues.get(0), closed), ok, 16, 64));
        assertEquals(fds, openFds(), "nothing was opened");
        assertEquals(threads, pumpThreads(), "no thread was started");
        // The smallest pump works: batch 1, one deferred group at a time.
        try (FaultPump pump = FaultPump.start(queues, ok, 1, 1)) {
            for (int i = 0; i < 30; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 30);
        }
        assertEquals(fds, openFds(), "the pump let go of every fd");
    }

    @Test
    void aHandlerThatClosesThePumpStopsItWithoutJoiningItsOwnThread() throws Exception {
        java.util.concurrent.atomic.AtomicReference<FaultPump> self = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        FaultPump pump = FaultPump.start(queues, (q, f, first, count, ticket) -> {
            ready.await();
            self.get().close(); // from the pump's thread: marks it closed and returns
            return PageResponses.SUCCESS;
        }, 16, 64);
        self.set(pump);
        Thread thread = pumpThread(pump);
        ready.countDown();
        devices.get(0).triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
        thread.join(TimeUnit.SECONDS.toMillis(60));
        assertFalse(thread.isAlive(), "the pump thread ended after the handler returned");
        assertTrue(pump.isClosed());
        pump.close(); // and from here: returns at once
        assertNull(pump.failure());
        assertEquals(1, pump.groups());
        assertEquals(0, queues.get(0).read(new PageFaults(4)), "the group was answered");
    }

    @Test
    void aHandlerReturningABadCodeIsAHandlerErrorAndItsGroupIsAnsweredInvalid() throws Exception {
        FaultHandler seven = (q, f, first, count, ticket) -> f.groupId(first) % 2 == 0 ? 7 : PageResponses.SUCCESS;
        try (FaultPump pump = FaultPump.start(queues, seven, 16, 64)) {
            for (int i = 0; i < 40; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 40);
            assertEquals(20, pump.handlerErrors());
            assertEquals(0, pump.refusedAnswers(), "no bad code reached the kernel");
            assertEquals(0, pump.droppedQueues());
            assertNull(pump.failure());
        }
        for (FaultQueue q : queues) assertEquals(0, q.read(new PageFaults(4)), "every group was answered");
    }

    @Test
    void respondRefusesBadCodesAndBogusTicketsAndNeverWaits() throws Exception {
        java.util.concurrent.BlockingQueue<Long> tickets = new java.util.concurrent.LinkedBlockingQueue<>();
        FaultHandler defer = (q, f, first, count, ticket) -> {
            tickets.add(ticket);
            return FaultHandler.DEFERRED;
        };
        try (FaultPump pump = FaultPump.start(queues, defer, 16, 1)) {
            devices.get(0).triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
            long ticket = tickets.poll(60, TimeUnit.SECONDS);
            awaitOutstanding(pump, 1);
            for (int code : new int[] {7, -1, 2, FaultHandler.DEFERRED}) {
                assertThrows(IllegalArgumentException.class, () -> pump.respond(ticket, code));
            }
            long[] bogus = {(5L << 32) | 3, 0xffffffffL, -1, 0, ticket + 1, ticket ^ (1L << 40), Long.MIN_VALUE};
            // Far more than the answer queue holds: each is refused at once.
            for (int round = 0; round < 10_000; round++) {
                for (long t : bogus) assertFalse(pump.respond(t, PageResponses.SUCCESS), Long.toHexString(t));
            }
            assertEquals(10_000L * bogus.length, pump.rejectedAnswers());
            assertEquals(1, pump.outstanding(), "the real group still waits");
            assertTrue(pump.respond(ticket, PageResponses.SUCCESS));
            assertFalse(pump.respond(ticket, PageResponses.SUCCESS), "a second answer for the same group");
            // The pump lives on: the next fault is handled.
            devices.get(1).triggerPageFault(0, 2, PageFaults.PERM_READ, 0x2000);
            assertTrue(pump.respond(tickets.poll(60, TimeUnit.SECONDS), PageResponses.INVALID));
            awaitOutstanding(pump, 0);
            assertEquals(0, pump.refusedAnswers());
            assertNull(pump.failure());
        }
        for (FaultQueue q : queues) assertEquals(0, q.read(new PageFaults(4)));
    }

    @Test
    void respondAfterCloseReturnsFalseAndWritesNowhere() throws Exception {
        java.util.concurrent.BlockingQueue<Long> tickets = new java.util.concurrent.LinkedBlockingQueue<>();
        FaultPump pump = FaultPump.start(queues, (q, f, first, count, ticket) -> {
            tickets.add(ticket);
            return FaultHandler.DEFERRED;
        }, 16, 64);
        devices.get(0).triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
        long ticket = tickets.poll(60, TimeUnit.SECONDS);
        pump.close(); // answers the group INVALID and closes the pump's eventfd, ring and fds
        // The numbers the pump freed go to the next files opened: pipes that must stay empty.
        java.lang.foreign.MemorySegment ends = arena.allocate(java.lang.foreign.ValueLayout.JAVA_INT, 2);
        List<Integer> readEnds = new ArrayList<>(), all = new ArrayList<>();
        try {
            for (int i = 0; i < 16; i++) {
                assertEquals(0, io.github.iommufd4j.bindings.Libc.pipe2(ends, io.github.iommufd4j.bindings.Libc.O_NONBLOCK
                        | io.github.iommufd4j.bindings.Libc.O_CLOEXEC));
                readEnds.add(ends.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 0));
                all.add(ends.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 0));
                all.add(ends.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 1));
            }
            assertFalse(pump.respond(ticket, PageResponses.SUCCESS));
            assertEquals(0, pump.rejectedAnswers(), "refused for the closed pump, not as a bad ticket");
            java.lang.foreign.MemorySegment buf = arena.allocate(64);
            for (int r : readEnds) assertTrue(io.github.iommufd4j.bindings.Libc.read(r, buf, 64) < 0, "nothing written to fd " + r);
        } finally {
            for (int f : all) io.github.iommufd4j.bindings.Libc.close(f);
        }
        assertEquals(0, queues.get(0).read(new PageFaults(4)), "the group was answered at close");
    }

    @Test
    void ticketsAreNeverReusedSoALateDuplicateAnswerCannotAnswerANewerGroup() throws Exception {
        java.util.concurrent.BlockingQueue<Long> tickets = new java.util.concurrent.LinkedBlockingQueue<>();
        FaultHandler defer = (q, f, first, count, ticket) -> {
            tickets.add(ticket);
            return FaultHandler.DEFERRED;
        };
        try (FaultPump pump = FaultPump.start(queues, defer, 16, 1)) { // one slot: every group reuses it
            java.util.Set<Long> seen = new java.util.HashSet<>();
            long previous = -1;
            for (int i = 0; i < 50; i++) {
                devices.get(0).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
                long t = tickets.poll(60, TimeUnit.SECONDS);
                assertTrue(seen.add(t), "ticket issued twice: " + t);
                if (previous >= 0) assertFalse(pump.respond(previous, PageResponses.SUCCESS), "late duplicate answer");
                awaitOutstanding(pump, 1); // group i waits; the late answer did not answer it
                assertTrue(pump.respond(t, PageResponses.SUCCESS));
                previous = t;
            }
            awaitOutstanding(pump, 0);
            assertEquals(49, pump.rejectedAnswers());
            assertEquals(0, pump.refusedAnswers(), "the kernel never saw a duplicate");
        }
    }

    @Test
    void anAnswerGivenWhileItsHandlerStillRunsIsWrittenOnce() throws Exception {
        java.util.concurrent.atomic.AtomicReference<FaultPump> self = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        FaultHandler answerEarly = (q, f, first, count, ticket) -> {
            ready.await();
            assertTrue(self.get().respond(ticket, PageResponses.SUCCESS)); // e.g. a worker that was quick
            return f.groupId(first) % 2 == 0 ? FaultHandler.DEFERRED : PageResponses.INVALID;
        };
        try (FaultPump pump = FaultPump.start(queues, answerEarly, 16, 4)) {
            self.set(pump);
            ready.countDown();
            for (int i = 0; i < 40; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 40);
            awaitOutstanding(pump, 0);
            assertEquals(0, pump.handlerErrors());
            assertEquals(0, pump.refusedAnswers(), "no group was answered twice");
        }
        for (FaultQueue q : queues) assertEquals(0, q.read(new PageFaults(4)));
    }

    @Test
    void atMostMaxOutstandingGroupsWaitForAnAnswer() throws Exception {
        java.util.concurrent.BlockingQueue<Long> tickets = new java.util.concurrent.LinkedBlockingQueue<>();
        java.util.concurrent.atomic.AtomicInteger overCap = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<FaultPump> self = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        FaultHandler defer = (q, f, first, count, ticket) -> {
            ready.await();
            if (self.get().outstanding() >= 4) overCap.incrementAndGet(); // a fifth while four wait
            tickets.add(ticket);
            return FaultHandler.DEFERRED;
        };
        int n = 60;
        try (FaultPump pump = FaultPump.start(queues, defer, 16, 4)) {
            self.set(pump);
            ready.countDown();
            for (int i = 0; i < n; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            for (int answered = 0; answered < n; answered++) {
                long t = tickets.poll(60, TimeUnit.SECONDS);
                assertTrue(pump.outstanding() <= 4, "outstanding " + pump.outstanding());
                assertTrue(pump.respond(t, PageResponses.SUCCESS));
            }
            awaitCount(pump, n);
            awaitOutstanding(pump, 0);
        }
        assertEquals(0, overCap.get(), "the handler got a group while maxOutstanding groups waited");
    }

    @ParameterizedTest
    @EnumSource(FaultPump.RecordPath.class)
    void closingOneQueueUnderARunningPumpDropsItAndTheOthersAreStillServed(FaultPump.RecordPath path) throws Exception {
        if (path == FaultPump.RecordPath.RING) assumeTrue(fd.backend() == Backend.NATIVE, "RING reads the kernel's fds");
        FaultHandler ok = (q, f, first, count, ticket) -> PageResponses.SUCCESS;
        try (FaultPump pump = FaultPump.start(queues, ok, List.of(), null, 16, 64, path)) {
            for (int i = 0; i < 30; i++) devices.get(i % 3).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 30);
            int id = queues.get(0).id();
            queues.get(0).close(); // closes its device too (a dependent); the pump lets go of its file first
            assertEquals(1, pump.droppedQueues(), "the close waited for the pump to drop the queue");
            assertErrno("ENOENT", () -> fd.destroy(id)); // the kernel object is gone, not left busy
            for (int i = 30; i < 90; i++) devices.get(1 + i % 2).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 90);
            Throwable why = pump.queueFailure(queues.get(0));
            assertInstanceOf(io.github.iommufd4j.IommufdException.class, why);
            assertEquals("EBADF", ((io.github.iommufd4j.IommufdException) why).errnoName(), why.getMessage());
            assertNull(pump.queueFailure(queues.get(1)));
            assertNull(pump.queueFailure(queues.get(2)));
            assertNull(pump.failure());
            assertTrue(pump.toString().contains("dropped queues 1"), pump.toString());
        }
        for (int q = 1; q < 3; q++) assertEquals(0, queues.get(q).read(new PageFaults(4)));
    }

    @ParameterizedTest
    @EnumSource(FaultPump.RecordPath.class)
    void aHandlerThatClosesItsQueueDestroysItAndThePumpServesTheOthers(FaultPump.RecordPath path) throws Exception {
        if (path == FaultPump.RecordPath.RING) assumeTrue(fd.backend() == Backend.NATIVE, "RING reads the kernel's fds");
        FaultQueue doomed = queues.get(0);
        int id = doomed.id();
        java.util.concurrent.atomic.AtomicReference<Throwable> closeError = new java.util.concurrent.atomic.AtomicReference<>();
        FaultHandler closer = (q, f, first, count, ticket) -> {
            if (q == doomed) {
                try {
                    q.close(); // on the pump's own thread: must neither wait for itself nor be refused
                } catch (Throwable t) {
                    closeError.set(t);
                }
            }
            return PageResponses.SUCCESS;
        };
        try (FaultPump pump = FaultPump.start(queues, closer, List.of(), null, 16, 64, path)) {
            devices.get(0).triggerPageFault(0, 0, PageFaults.PERM_READ, 0x1000);
            awaitCount(pump, 1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!doomed.isClosed() && System.nanoTime() < deadline) Thread.sleep(2);
            for (int i = 1; i < 41; i++) devices.get(1 + i % 2).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 41);
            assertNull(closeError.get(), () -> "close from the handler failed: " + closeError.get());
            assertEquals(1, pump.droppedQueues());
            assertNull(pump.failure());
            assertErrno("ENOENT", () -> fd.destroy(id));
        }
        for (int q = 1; q < 3; q++) assertEquals(0, queues.get(q).read(new PageFaults(4)));
    }

    @Test
    void closingTheIommufdUnderARunningPumpEndsItsHoldsAndLeavesNoFd() throws Exception {
        long fds = openFds();
        Iommufd other = Iommufd.open(fd.backend());
        Ioas ioas = other.allocIoas();
        List<FaultQueue> qs = new ArrayList<>();
        List<MockDevice> devs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            qs.add(other.allocFaultQueue());
            devs.add(other.mock().addFaultingDevice(ioas, qs.get(i)));
        }
        try (FaultPump pump = FaultPump.start(qs, (q, f, first, count, ticket) -> FaultHandler.DEFERRED, 16, 64)) {
            for (int i = 0; i < 10; i++) devs.get(i % 2).triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
            awaitCount(pump, 10);
            other.close(); // the pump drops both queues first, then the fd closes
            assertEquals(2, pump.droppedQueues());
            assertNull(pump.failure());
        }
        assertEquals(fds, openFds(), "no fd left by the iommufd, its queues or the pump");
    }

    @Test
    void thePumpSaysWhatItIs() throws Exception {
        try (FaultPump pump = FaultPump.start(queues, (q, f, first, count, ticket) -> PageResponses.SUCCESS, 32, 128)) {
            assertTrue(pump.threadName().matches("iommufd4j-fault-pump-\\d+"), pump.threadName());
            devices.get(0).triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
            awaitCount(pump, 1);
            String s = pump.toString();
            for (String part : new String[] {pump.threadName(), "running", "SYSCALLS", "3 fault queues", "batch 32", "faults 1",
                    "outstanding 0/128"}) {
                assertTrue(s.contains(part), s);
            }
            pump.close();
            assertTrue(pump.toString().contains("closed"), pump.toString());
        }
    }

    static void awaitOutstanding(FaultPump pump, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (pump.outstanding() != n && System.nanoTime() < deadline) Thread.sleep(2);
        assertEquals(n, pump.outstanding());
    }

    static long openFds() throws java.io.IOException {
        try (var s = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    static long pumpThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("iommufd4j-fault-pump-")).count();
    }

    static Thread pumpThread(FaultPump pump) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(pump.threadName())).findFirst()
                .orElseThrow();
    }

    static void awaitCount(FaultPump pump, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (pump.faults() < n && System.nanoTime() < deadline && pump.failure() == null) Thread.sleep(2);
        assertNull(pump.failure(), () -> "pump failed: " + pump.failure());
        assertEquals(n, pump.faults(), "faults delivered before the deadline");
    }
}
