package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.pump.FaultPump;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The library's JFR events, recorded in-process on the software backend and read back from the
 * recording file with their field values: a failed ioctl, a map and an unmap, an invalidation, a
 * pump's statistics (periodic and on close) and its fault batches.
 */
class JfrEventsTest {
    private static final String P = "io.github.iommufd4j.";
    private static final int FAULTS = 100;
    /** The fault the handler answers with a code no kernel knows: one handler error. */
    private static final long BAD_ADDRESS = 7L << 12;

    @Test
    void failedIoctlMapUnmapInvalidateAndPumpStatisticsAreRecordedWithTheirFields() throws Exception {
        Path file = Files.createTempFile("iommufd4j-events", ".jfr");
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            MockDevice dev = fd.mock().addDevice(ioas);
            HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
            HwPagetable nested = fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                    MockDriver.selftestData(arena, 0x77), null);
            FaultQueue q = fd.allocFaultQueue();
            MockDevice faulting = fd.mock().addFaultingDevice(fd.allocIoas(), q);
            MemorySegment buffer = arena.allocate(8192, 4096);
            MemorySegment entries = arena.allocate(16, 4); // two {flags, iotlb_id}
            entries.set(ValueLayout.JAVA_INT, 4, 1);
            entries.set(ValueLayout.JAVA_INT, 12, 3);

            // Started before the recording: the pump's statistics are due when the recording begins.
            FaultPump pump = FaultPump.start(List.of(q), (queue, f, first, count, ticket) ->
                    f.address(first) == BAD_ADDRESS ? 12345 : PageResponses.SUCCESS, 16, 32);
            long mapped;
            try (Recording recording = new Recording()) {
                for (String e : List.of("IoctlFailure", "IoasMap", "IoasUnmap", "Invalidate", "FaultBatch")) {
                    recording.enable(P + e).withThreshold(Duration.ZERO);
                }
                recording.enable(P + "FaultPumpStatistics").with("period", "everyChunk"); // at start and stop, not by the clock
                recording.start();

                var refused = assertThrows(IommufdException.class, () -> ioas.unmap(0x40000000L, 4096)); // nothing mapped there
                assertEquals("ENOENT", refused.errnoName());
                mapped = ioas.map(buffer, Access.READ_WRITE);
                assertEquals(8192, ioas.unmap(mapped, 8192));
                assertEquals(2, nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, entries, 8, 2));
                for (int i = 0; i < FAULTS; i++) faulting.triggerPageFault(0, i, PageFaults.PERM_READ, (long) i << 12);
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (pump.faults() < FAULTS && System.nanoTime() < deadline) Thread.sleep(1);
                assertEquals(FAULTS, pump.faults());
                pump.close(); // its last statistics event
                recording.stop();
                recording.dump(file);
            } finally {
                pump.close();
            }
            List<RecordedEvent> events = RecordingFile.readAllEvents(file);

            RecordedEvent failure = only(events, "IoctlFailure", e -> e.getString("arguments").startsWith("ioas=" + ioas.id() + ","));
            assertEquals("IOMMU_IOAS_UNMAP", failure.getString("operation"));
            assertEquals(Errno.value("ENOENT"), failure.getInt("errno"));
            assertEquals("ENOENT", failure.getString("errnoName"));
            assertEquals("ioas=" + ioas.id() + ", iova=0x40000000, length=0x1000", failure.getString("arguments"));

            RecordedEvent map = only(events, "IoasMap", e -> e.getInt("ioas") == ioas.id());
            assertEquals(mapped, map.getLong("iova"));
            assertEquals(8192, map.getLong("length"));
            assertEquals("READ_WRITE", map.getString("access"));
            assertFalse(map.getBoolean("file"));

            RecordedEvent unmap = only(events, "IoasUnmap", e -> e.getInt("ioas") == ioas.id());
            assertEquals(mapped, unmap.getLong("iova"));
            assertEquals(8192, unmap.getLong("length"));
            assertEquals(8192, unmap.getLong("unmapped"));

            RecordedEvent inv = only(events, "Invalidate", e -> e.getInt("id") == nested.id());
            assertEquals("hwpt", inv.getString("object"));
            assertEquals(MockDriver.INVALIDATE_DATA_SELFTEST, inv.getInt("dataType"));
            assertEquals(8, inv.getInt("entryLength"));
            assertEquals(2, inv.getInt("entries"));
            assertEquals(2, inv.getInt("handled"));

            String thread = pump.threadName();
            RecordedEvent last = only(events, "FaultPumpStatistics", e -> e.getString("pump").equals(thread) && e.getBoolean("closed"));
            assertEquals("SYSCALLS", last.getString("recordPath"));
            assertEquals(1, last.getInt("faultQueues"));
            assertEquals(0, last.getInt("eventQueues"));
            assertEquals(FAULTS, last.getLong("faults"));
            assertEquals(pump.groups(), last.getLong("groups"));
            assertEquals(pump.batches(), last.getLong("batches"));
            assertTrue(last.getLong("batches") > 0);
            assertEquals(1, last.getLong("handlerErrors"));
            assertEquals(0, last.getInt("outstanding"));
            assertEquals(32, last.getInt("maxOutstanding"));
            assertEquals(0, last.getLong("droppedQueues"));
            RecordedEvent first = only(events, "FaultPumpStatistics", e -> e.getString("pump").equals(thread) && !e.getBoolean("closed"));
            assertEquals(0, first.getLong("faults"), "the periodic event at the recording's start");

            assertEquals(FAULTS, events.stream().filter(e -> is(e, "FaultBatch") && e.getInt("queue") == q.id())
                    .mapToInt(e -> e.getInt("records")).sum());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static boolean is(RecordedEvent e, String name) {
        return e.getEventType().getName().equals(P + name);
    }

    /** The one event of this type that matches. */
    private static RecordedEvent only(List<RecordedEvent> events, String name, java.util.function.Predicate<RecordedEvent> match) {
        List<RecordedEvent> found = events.stream().filter(e -> is(e, name) && match.test(e)).toList();
        assertEquals(1, found.size(), name + " events: " + found);
        return found.getFirst();
    }
}
