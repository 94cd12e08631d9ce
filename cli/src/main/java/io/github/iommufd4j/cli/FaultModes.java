package io.github.iommufd4j.cli;

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
import io.github.iommufd4j.pump.BlockingFaultLoop;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import io.github.iommufd4j.internal.uring.IoUring;
import io.github.iommufd4j.bindings.Libc;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;

/**
 * How to move fault records, measured on the running kernel: trigger a burst of faults, then
 * drain and answer them (a) with blocking read/write, (b) with the fault pump's default path
 * (ring readiness + direct read/write), (c) with the pump's RING path (a ring read always in
 * flight, the fd in O_NONBLOCK mode), (d) with IORING_OP_READ on the fault fd as it is, and
 * (e) the same with O_NONBLOCK set. Reports microseconds per fault of the drain. (d) against (e)
 * shows why ring reads of the fault fd were slow: without O_NONBLOCK io_uring hands each read of
 * this .read-only file to an io-wq worker. (c) and (e) need the kernel's fds.
 */
public final class FaultModes {
    private FaultModes() {}

    public static void run(Iommufd fd, int bursts, int burst, PrintStream out) throws Exception {
        boolean kernel = fd.backend() == Backend.NATIVE;
        try (Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            FaultHandler ok = (queue, f, first, count, ticket) -> PageResponses.SUCCESS;
            for (int round = 0; round < 2; round++) { // the first round warms up the JIT
                double blocking = 0, ringPump = Double.NaN, ringRead, ringReadNonblock = Double.NaN;
                BlockingFaultLoop loop = new BlockingFaultLoop(q, ok, burst);
                for (int b = 0; b < bursts; b++) {
                    trigger(dev, burst);
                    long t = System.nanoTime();
                    loop.run(burst, 1000);
                    blocking += System.nanoTime() - t;
                }
                double pump = pump(q, dev, ok, bursts, burst, FaultPump.RecordPath.SYSCALLS);
                if (kernel) ringPump = pump(q, dev, ok, bursts, burst, FaultPump.RecordPath.RING);
                ringRead = ringReads(q, dev, bursts, burst);
                if (kernel) {
                    int flags = Libc.fcntl(q.fd(), Libc.F_GETFL, 0);
                    Libc.fcntl(q.fd(), Libc.F_SETFL, flags | Libc.O_NONBLOCK);
                    try {
                        ringReadNonblock = ringReads(q, dev, bursts, burst);
                    } finally {
                        Libc.fcntl(q.fd(), Libc.F_SETFL, flags);
                    }
                }
                if (round == 1) {
                    double n = (double) bursts * burst * 1000;
                    out.printf(Locale.ROOT, "%s, bursts of %d, us/fault: blocking read/write %s, pump (poll + read/write) %s, "
                                    + "pump RING (ring read in flight, O_NONBLOCK) %s, IORING_OP_READ %s, IORING_OP_READ with O_NONBLOCK %s%n",
                            System.getProperty("os.version"), burst, us(blocking / n), us(pump / n), us(ringPump / n), us(ringRead / n),
                            us(ringReadNonblock / n));
                }
            }
        }
    }

    /** Nanoseconds the pump needs to drain the bursts. */
    private static double pump(FaultQueue q, MockDevice dev, FaultHandler ok, int bursts, int burst, FaultPump.RecordPath path)
            throws Exception {
        double total = 0;
        try (FaultPump p = FaultPump.start(List.of(q), ok, List.of(), null, burst, 1024, path)) {
            for (int b = 0; b < bursts; b++) {
                long target = p.faults() + burst;
                trigger(dev, burst);
                long t = System.nanoTime();
                while (p.faults() < target) Thread.onSpinWait();
                total += System.nanoTime() - t;
            }
        }
        return total;
    }

    /** Nanoseconds to drain the bursts with one IORING_OP_READ per batch, answers by write(2). */
    private static double ringReads(FaultQueue q, MockDevice dev, int bursts, int burst) throws Exception {
        double total = 0;
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
                total += System.nanoTime() - t;
            }
        }
        return total;
    }

    private static String us(double v) {
        return Double.isNaN(v) ? "n/a (kernel fds only)" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static void trigger(MockDevice dev, int n) throws Exception {
        for (int i = 0; i < n; i++) dev.triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
    }
}
