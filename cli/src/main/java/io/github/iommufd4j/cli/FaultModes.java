package io.github.iommufd4j.cli;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.BlockingFaultLoop;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import io.github.iommufd4j.uring.IoUring;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;

/**
 * How to move fault records, measured on the running kernel: trigger a burst of faults, then
 * drain and answer them (a) with blocking read/write, (b) with the fault pump (ring readiness
 * + direct read/write), (c) with IORING_OP_READ on the fault fd. Reports microseconds per fault
 * of the drain; the pump's design choice (b) rests on (c) being slower.
 */
public final class FaultModes {
    private FaultModes() {}

    public static void run(Iommufd fd, int bursts, int burst, PrintStream out) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            FaultHandler ok = (queue, f, first, count, ticket) -> PageResponses.SUCCESS;
            for (int round = 0; round < 2; round++) { // the first round warms up the JIT
                double blocking = 0, pump = 0, ringRead = 0;
                BlockingFaultLoop loop = new BlockingFaultLoop(q, ok, burst);
                for (int b = 0; b < bursts; b++) {
                    trigger(dev, burst);
                    long t = System.nanoTime();
                    loop.run(burst, 1000);
                    blocking += System.nanoTime() - t;
                }
                try (FaultPump p = FaultPump.start(List.of(q), ok, burst, 1024)) {
                    for (int b = 0; b < bursts; b++) {
                        long target = p.faults() + burst;
                        trigger(dev, burst);
                        long t = System.nanoTime();
                        while (p.faults() < target) Thread.onSpinWait();
                        pump += System.nanoTime() - t;
                    }
                }
                try (IoUring ring = IoUring.open(8)) {
                    PageFaults records = new PageFaults(burst);
                    PageResponses answers = new PageResponses(burst);
                    for (int b = 0; b < bursts; b++) {
                        trigger(dev, burst);
                        long t = System.nanoTime();
                        int done = 0;
                        while (done < burst) {
                            ring.read(q.fd(), records.buffer(), 0, 1);
                            ring.submitAndWait(1);
                            int[] res = {0};
                            ring.processCompletions((ud, r, fl) -> res[0] = r);
                            if (res[0] < 0) throw new IllegalStateException("ring read: " + res[0]);
                            int n = res[0] / PageFaults.RECORD;
                            records.setCount(n);
                            for (int i = 0; i < n; i++) answers.add(records.cookie(i), PageResponses.SUCCESS);
                            while (answers.count() > 0) q.respond(answers);
                            done += n;
                        }
                        ringRead += System.nanoTime() - t;
                    }
                }
                if (round == 1) {
                    double n = (double) bursts * burst * 1000;
                    out.printf(Locale.ROOT, "%s, bursts of %d: blocking read/write %.1f us/fault, pump (poll + read/write) %.1f us/fault, "
                            + "IORING_OP_READ %.1f us/fault%n", System.getProperty("os.version"), burst, blocking / n, pump / n, ringRead / n);
                }
            }
        }
    }

    private static void trigger(MockDevice dev, int n) throws Exception {
        for (int i = 0; i < n; i++) dev.triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
    }
}
