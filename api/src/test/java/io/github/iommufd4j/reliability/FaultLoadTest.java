package io.github.iommufd4j.reliability;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fault delivery under load: several mock devices and PASIDs, one trigger thread per device,
 * the fault pump over two queues, one answered by a synchronous handler and one by deferred
 * answers from another thread. Every fault must arrive exactly once, in trigger order per
 * (device, PASID), and be answered exactly once. Runs on the backend {@code Iommufd.open()}
 * picks (the kernel's in the guest). {@code -Diommufd4j.load.faults} sets the count.
 */
class FaultLoadTest {
    static final long FAULTS = Long.getLong("iommufd4j.load.faults", 8_000);
    static final int DEVICES = 4, PASIDS = 4;
    static final long TIME_LIMIT_S = Long.getLong("iommufd4j.load.seconds", 600);
    Iommufd fd;
    final List<FaultQueue> queues = new ArrayList<>();
    final List<MockDevice> devices = new ArrayList<>();

    @BeforeEach
    void devices() throws Exception {
        fd = Iommufd.open();
        assumeTrue(fd.mock().isPresent(), "needs the mock driver");
        Ioas ioas = fd.allocIoas();
        for (int q = 0; q < 2; q++) queues.add(fd.allocFaultQueue());
        for (int d = 0; d < DEVICES; d++) devices.add(fd.mock().addFaultingDevice(ioas, queues.get(d % 2)));
    }

    @org.junit.jupiter.api.AfterEach
    void close() {
        fd.close();
    }

    /** Per (device, PASID): the next sequence number expected, and faults out of order or repeated. */
    static final class Order {
        final long[][] next = new long[DEVICES][PASIDS];
        long wrong;

        void seen(int dev, int pasid, long seq) {
            if (next[dev][pasid] != seq) wrong++;
            next[dev][pasid] = seq + 1;
        }
    }

    @Test
    void everyFaultArrivesOnceInOrderAndIsAnsweredOnce() throws Exception {
        int[] devIndex = new int[64];
        for (int d = 0; d < DEVICES; d++) devIndex[devices.get(d).deviceId()] = d;
        Order order = new Order(); // touched by the pump thread only
        LinkedBlockingQueue<Long> deferred = new LinkedBlockingQueue<>();
        FaultHandler handler = (q, f, first, count, ticket) -> {
            for (int i = first; i < first + count; i++) {
                // The address carries the trigger's sequence number per (device, PASID).
                order.seen(devIndex[f.deviceId(i)], f.pasidValid(i) ? f.pasid(i) : 0, f.address(i) >>> 12);
            }
            if (q == queues.get(0)) return PageResponses.SUCCESS;
            deferred.add(ticket);
            return FaultHandler.DEFERRED;
        };
        long perDevice = FAULTS / DEVICES;
        long total = perDevice * DEVICES;
        AtomicLong triggerErrors = new AtomicLong();
        long start = System.nanoTime();
        try (FaultPump pump = FaultPump.start(queues, handler, 64, 4096)) {
            AtomicLong answered = new AtomicLong();
            Thread answerer = Thread.ofPlatform().name("answerer").daemon().start(() -> {
                while (answered.get() < total / 2) {
                    Long t;
                    try {
                        t = deferred.poll(1, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        return;
                    }
                    if (t == null) {
                        if (pump.failure() != null) return;
                        continue;
                    }
                    if (pump.respond(t, PageResponses.SUCCESS)) answered.incrementAndGet();
                    else return;
                }
            });
            List<Thread> triggers = new ArrayList<>();
            for (int d = 0; d < DEVICES; d++) {
                MockDevice dev = devices.get(d);
                triggers.add(Thread.ofPlatform().name("trigger-" + d).daemon().start(() -> {
                    long[] seq = new long[PASIDS];
                    for (long n = 0; n < perDevice; n++) {
                        int pasid = (int) (n % PASIDS);
                        try {
                            dev.triggerPageFault(pasid, (int) (n & 0x1ff), PageFaults.PERM_READ, seq[pasid]++ << 12);
                        } catch (IommufdException e) {
                            triggerErrors.incrementAndGet();
                        }
                    }
                }));
            }
            long deadline = start + TimeUnit.SECONDS.toNanos(TIME_LIMIT_S);
            for (Thread t : triggers) t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            while (pump.faults() < total && System.nanoTime() < deadline && pump.failure() == null) Thread.sleep(5);
            answerer.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            System.out.printf("[reliability] fault load (%s): %d faults from %d devices x %d PASIDs in %d ms (%.0f/s), "
                            + "lost %d, out of order %d%n", fd.backend(), pump.faults(), DEVICES, PASIDS, ms,
                    pump.faults() * 1000.0 / Math.max(1, ms), total - pump.faults(), order.wrong);
            assertNull(pump.failure(), () -> "pump failed: " + pump.failure());
            assertEquals(0, triggerErrors.get());
            assertEquals(total, pump.faults(), "lost faults (time limit " + TIME_LIMIT_S + " s)");
            assertEquals(0, order.wrong, "faults out of order or repeated within a (device, PASID)");
            assertEquals(total / 2, answered.get(), "every deferred group answered");
            assertEquals(0, pump.handlerErrors());
        }
        // Every group was answered once: nothing is left to read, and since cookies are the lowest
        // free value, one more fault gets cookie 1 only if no earlier group still holds one.
        PageFaults one = new PageFaults(4);
        for (int q = 0; q < 2; q++) {
            assertEquals(0, queues.get(q).read(one));
            devices.get(q).triggerPageFault(0, 0, PageFaults.PERM_READ, 0);
            assertEquals(1, queues.get(q).read(one));
            assertEquals(1, one.cookie(0), "no cookie left outstanding");
        }
    }

    @Test
    void closingQueuesAndHandlesWhileFaultsAreInFlightLeavesNoStuckTriggerAndNoFd() throws Exception {
        fd.close();
        long fdsBefore = Leaks.openFds();
        for (int round = 0; round < 5; round++) {
            try (Iommufd f = Iommufd.open()) {
                Ioas ioas = f.allocIoas();
                FaultQueue q = f.allocFaultQueue();
                List<MockDevice> devs = new ArrayList<>();
                for (int d = 0; d < 2; d++) devs.add(f.mock().addFaultingDevice(ioas, q));
                try (FaultPump pump = FaultPump.start(List.of(q), (qq, r, first, count, t) -> FaultHandler.DEFERRED, 16, 64)) {
                    List<Thread> triggers = new ArrayList<>();
                    for (MockDevice dev : devs) {
                        triggers.add(Thread.ofPlatform().start(() -> {
                            // Until the device handle is closed under it: then a typed "closed" error.
                            for (int n = 0; ; n++) {
                                try {
                                    dev.triggerPageFault(n & 3, n & 0x1ff, PageFaults.PERM_WRITE, (long) n << 12);
                                } catch (IommufdException e) {
                                    return;
                                }
                            }
                        }));
                    }
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (pump.faults() < 50 && pump.failure() == null && System.nanoTime() < deadline) Thread.sleep(1);
                    assertTrue(pump.faults() >= 50, "faults flow before the close"); // 50 < maxOutstanding
                    // In flight: closing order varies per round (pump first, queue first, everything at once).
                    switch (round % 3) {
                        case 0 -> { pump.close(); q.close(); }
                        case 1 -> {
                            q.close(); // the pump lets go of the queue's file first: no EBUSY
                            assertEquals(1, pump.droppedQueues(), "the pump dropped the closed queue");
                            pump.close();
                        }
                        default -> { }
                    }
                    ioas.close(); // closes the devices: the triggers see a closed handle
                    for (Thread t : triggers) {
                        t.join(TimeUnit.SECONDS.toMillis(60));
                        assertFalse(t.isAlive(), "trigger thread stuck");
                    }
                    pump.close();
                    assertNull(pump.failure() instanceof Error ? pump.failure() : null);
                }
            }
            assertEquals(fdsBefore, Leaks.openFds(), "file descriptors leaked in round " + round);
        }
    }
}
