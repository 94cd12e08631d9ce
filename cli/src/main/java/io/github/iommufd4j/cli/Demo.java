package io.github.iommufd4j.cli;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The main job, end to end on the chosen backend: an IOAS with a mapped buffer, DMA through the
 * mapping (a mock access writes and reads it back), mock devices behind nested IOPF-capable page
 * tables with fault queues, and triggered I/O page faults handled by the io_uring fault pump.
 */
public final class Demo {
    /** What the demo measured. */
    public record Result(String backend, String reason, int devices, long faults, long groups, long batches,
                         double p50Micros, double p99Micros, double faultsPerSecond, boolean dmaChecked, long handlerErrors) {

        String table() {
            return String.format(Locale.ROOT, """
                    backend         %s (%s)
                    DMA check       %s
                    devices/queues  %d
                    faults          %d
                    groups          %d
                    batches read    %d (%.1f faults per read)
                    latency p50     %.1f us (trigger -> handler)
                    latency p99     %.1f us
                    throughput      %.0f faults/s
                    handler errors  %d
                    """, backend, reason, dmaChecked ? "passed (wrote and read back through the IOAS)" : "FAILED",
                    devices, faults, groups, batches, batches == 0 ? 0.0 : faults / (double) batches,
                    p50Micros, p99Micros, faultsPerSecond, handlerErrors);
        }

        String json() {
            return new Json().add("backend", backend).add("reason", reason).add("devices", devices).add("faults", faults)
                    .add("groups", groups).add("batches", batches).add("p50_us", round2(p50Micros)).add("p99_us", round2(p99Micros))
                    .add("faults_per_s", Math.rint(faultsPerSecond)).add("dma_checked", dmaChecked)
                    .add("handler_errors", handlerErrors).toString();
        }

        private static double round2(double v) {
            return Math.rint(v * 100) / 100;
        }
    }

    /** Faults in flight at most (like a device with that many outstanding page requests). */
    static final int WINDOW = 64;

    private Demo() {}

    public static Result run(Iommufd fd, int devices, int faults) throws Exception {
        return run(fd, devices, faults, Progress.NONE);
    }

    static Result run(Iommufd fd, int devices, int faults, Progress progress) throws Exception {
        if (!fd.mock().isPresent()) {
            throw new IllegalStateException("the kernel has no iommufd mock driver (CONFIG_IOMMUFD_TEST): "
                    + "use the software backend, or `iommufd4j vm demo`");
        }
        progress.show(() -> "demo: setting up " + devices + " mock devices with fault queues");
        try (Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            // Devices first: attaching reserves the mock IOMMU's aperture, which existing maps would overlap.
            MockDevice[] devs = new MockDevice[devices];
            FaultQueue[] queues = new FaultQueue[devices];
            for (int i = 0; i < devices; i++) {
                queues[i] = fd.allocFaultQueue();
                devs[i] = fd.mock().addFaultingDevice(ioas, queues[i]);
            }
            MemorySegment buffer = arena.allocate(1 << 20, 1 << 21);
            long iova = ioas.map(buffer, Access.READ_WRITE);
            boolean dmaOk = dmaCheck(fd, ioas, buffer, iova, arena);
            ioas.unmap(iova, buffer.byteSize()); // the faults below need no mapping
            // Trigger time per fault, indexed by its address; the handler turns it into latency.
            long[] sent = new long[faults];
            long[] latency = new long[faults];
            FaultHandler handler = (q, f, first, count, ticket) -> {
                long now = System.nanoTime();
                for (int i = first; i < first + count; i++) {
                    int n = (int) (f.address(i) >>> 12);
                    latency[n] = now - sent[n];
                }
                return PageResponses.SUCCESS;
            };
            long start, end;
            try (FaultPump pump = FaultPump.start(List.of(queues), handler, 64, 1024)) {
                start = System.nanoTime();
                long begun = start;
                progress.show(() -> {
                    long done = pump.faults();
                    double s = (System.nanoTime() - begun) / 1e9;
                    return String.format(Locale.ROOT, "demo: %,d of %,d faults handled (%d%%), %,.0f faults/s, %.0f s",
                            done, faults, done * 100 / faults, done / s, s);
                });
                for (int n = 0; n < faults; n++) {
                    // At most WINDOW faults in flight, so latency is the pump's, not a queue's.
                    while (n - pump.faults() >= WINDOW && pump.failure() == null) Thread.onSpinWait();
                    sent[n] = System.nanoTime();
                    devs[n % devices].triggerPageFault(0, n, PageFaults.PERM_READ, (long) n << 12);
                }
                long deadline = System.nanoTime() + 600_000_000_000L;
                while (pump.faults() < faults && System.nanoTime() < deadline && pump.failure() == null) Thread.onSpinWait();
                end = System.nanoTime();
                if (pump.failure() != null) throw new IllegalStateException("fault pump failed", pump.failure());
                long[] sorted = latency.clone();
                Arrays.sort(sorted);
                return new Result(fd.backend().name().toLowerCase(Locale.ROOT), fd.backendReason(), devices, pump.faults(),
                        pump.groups(), pump.batches(), sorted[faults / 2] / 1e3, sorted[Math.min(faults - 1, faults * 99 / 100)] / 1e3,
                        pump.faults() / ((end - start) / 1e9), dmaOk, pump.handlerErrors());
            }
        }
    }

    /** Writes a pattern through the IOAS with a mock access and reads it back, comparing with the buffer. */
    private static boolean dmaCheck(Iommufd fd, Ioas ioas, MemorySegment buffer, long iova, Arena arena) throws Exception {
        try (MockAccess access = fd.mock().createAccess(ioas, false)) {
            MemorySegment out = arena.allocate(4096), in = arena.allocate(4096);
            for (int i = 0; i < 512; i++) out.set(JAVA_LONG, i * 8L, 0x1000_0000_0000L * i + i);
            access.rw(iova + 8192, out, true);
            access.rw(iova + 8192, in, false);
            return in.mismatch(out) == -1 && buffer.asSlice(8192, 4096).mismatch(out) == -1;
        }
    }

    static void print(Result r, boolean json, PrintWriter out) {
        out.print(json ? r.json() + "\n" : r.table());
        out.flush();
    }
}
