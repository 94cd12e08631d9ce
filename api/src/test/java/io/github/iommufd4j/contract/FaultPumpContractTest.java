package io.github.iommufd4j.contract;

import io.github.iommufd4j.Backend;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

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
            System.out.printf("fault pump (%s, %s): %d faults in %d batches, io-wq workers of the pump thread: %d%n",
                    fd.backend(), path, pump.faults(), pump.batches(), pump.ioWorkers());
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

    static void awaitCount(FaultPump pump, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (pump.faults() < n && System.nanoTime() < deadline && pump.failure() == null) Thread.sleep(2);
        assertNull(pump.failure(), () -> "pump failed: " + pump.failure());
        assertEquals(n, pump.faults(), "faults delivered before the deadline");
    }
}
