package io.github.iommufd4j;

import io.github.iommufd4j.internal.software.SoftwareBackend;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Page request groups of several records (what a device's DMA over several unmapped pages
 * reports; the mock's TRIGGER_IOPF only makes one-record groups): the pump hands each group to
 * the handler whole, in order, and answers it once. Uses the software backend's DMA of an
 * emulated device.
 */
class PumpMultiRecordGroupTest {
    static final long PAGE = 4096;

    @Test
    void aDmaOverFiveUnmappedPagesIsOneGroupOfFiveRecordsAnsweredOnce() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            long target = MockDriver.APERTURE_START + 64 * PAGE;
            MemorySegment guestRam = arena.allocate(5 * PAGE, PAGE);
            List<long[]> groups = new ArrayList<>(); // per group: count, first address, last address, group id
            try (FaultPump pump = FaultPump.start(q, (queue, faults, first, count, ticket) -> {
                for (int i = first; i < first + count; i++) {
                    assertEquals(faults.groupId(first), faults.groupId(i), "one group id throughout");
                    assertEquals(i == first + count - 1, faults.lastPage(i), "LAST_PAGE only on the last record");
                }
                groups.add(new long[] {count, faults.address(first), faults.address(first + count - 1), faults.groupId(first)});
                ioas.map(guestRam, target, Access.READ_WRITE); // resolve the fault, then answer
                return PageResponses.SUCCESS;
            })) {
                assertEquals(0, dmaWrite(fd, dev, target, arena, 5, (byte) 0x5a), "the DMA completed after the answer");
                assertEquals(1, pump.groups());
                assertEquals(5, pump.faults());
            }
            assertEquals(1, groups.size());
            assertArrayEquals(new long[] {5, target, target + 4 * PAGE}, java.util.Arrays.copyOf(groups.get(0), 3));
            for (long off = 0; off < 5 * PAGE; off += PAGE) assertEquals(0x5a, guestRam.get(ValueLayout.JAVA_BYTE, off + 17));
        }
    }

    @Test
    void aGroupLargerThanTheBatchGrowsTheReadBufferAndComesWhole() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            long target = MockDriver.APERTURE_START + 64 * PAGE;
            MemorySegment guestRam = arena.allocate(8 * PAGE, PAGE);
            List<Integer> counts = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (FaultPump pump = FaultPump.start(List.of(q), (queue, faults, first, count, ticket) -> {
                counts.add(count);
                if (count == 8) ioas.map(guestRam, target, Access.READ_WRITE);
                return PageResponses.SUCCESS;
            }, 4, 16)) {
                assertEquals(0, dmaWrite(fd, dev, target, arena, 8, (byte) 0x6b), "the DMA over 8 unmapped pages completed after the answer");
                assertEquals(List.of(8), counts, "one group of 8 records, although the batch is 4");
                // The pump lives on with the grown buffer: single faults still come one group each.
                for (int i = 0; i < 20; i++) dev.triggerPageFault(0, 100 + i, PageFaults.PERM_READ, 0x1000L * i);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (pump.faults() < 28 && System.nanoTime() < deadline) Thread.sleep(2);
                assertEquals(28, pump.faults());
                assertEquals(21, pump.groups());
                assertEquals(0, pump.droppedQueues());
                assertNull(pump.queueFailure(q));
                assertNull(pump.failure());
            }
            for (long off = 0; off < 8 * PAGE; off += PAGE) assertEquals(0x6b, guestRam.get(ValueLayout.JAVA_BYTE, off + 5));
        }
    }

    /** The device writes {@code pages} pages of {@code fill} at {@code iova} (software DMA, waiting for fault answers); its result. */
    static int dmaWrite(Iommufd fd, MockDevice dev, long iova, Arena arena, int pages, byte fill) throws Exception {
        SoftwareBackend sw = (SoftwareBackend) fd.raw();
        MemorySegment data = arena.allocate(pages * PAGE);
        data.fill(fill);
        return CompletableFuture.supplyAsync(() -> sw.deviceDma(dev.deviceId(), 0, iova, data, true,
                TimeUnit.SECONDS.toNanos(20))).get(30, TimeUnit.SECONDS);
    }
}
