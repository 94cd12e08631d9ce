package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** While a JFR recording asks for them, every batch the pump handles is a FaultBatch event. */
class FaultPumpJfrTest {

    @Test
    void batchesAreRecordedAsJfrEvents() throws Exception {
        Path file = Files.createTempFile("faults", ".jfr");
        try (Iommufd fd = Iommufd.open(); Recording recording = new Recording()) {
            assumeTrue(fd.mock().isPresent(), "no mock driver");
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(fd.allocIoas(), q);
            recording.enable("io.github.iommufd4j.FaultBatch").withThreshold(java.time.Duration.ZERO);
            recording.start();
            try (FaultPump pump = FaultPump.start(q, (queue, f, first, count, ticket) -> PageResponses.SUCCESS)) {
                for (int i = 0; i < 500; i++) dev.triggerPageFault(0, i, PageFaults.PERM_READ, 0x1000L * i);
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (pump.faults() < 500 && System.nanoTime() < deadline) Thread.sleep(1);
                assertEquals(500, pump.faults());
            }
            recording.stop();
            recording.dump(file);
            List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                    .filter(e -> e.getEventType().getName().equals("io.github.iommufd4j.FaultBatch")).toList(); // not the pump's statistics
            assertFalse(events.isEmpty(), "FaultBatch events recorded");
            assertEquals(500, events.stream().mapToInt(e -> e.getInt("records")).sum());
            assertEquals(q.id(), events.get(0).getInt("queue"));
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
