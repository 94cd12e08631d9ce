package io.github.iommufd4j.pump;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.internal.uring.IoUring;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pump's start never hangs: a setup that fails on the pump thread is thrown by start, and nothing is left open. */
class FaultPumpSetupTest {

    @Test
    void aSetupThatFailsOnThePumpThreadIsThrownByStartAndLeavesNothingOpen() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            FaultQueue q = fd.allocFaultQueue();
            long fds = openFds();
            PumpLoop loop = new PumpLoop("iommufd4j-fault-pump-setup-test", List.of(q),
                    (queue, f, first, count, ticket) -> PageResponses.SUCCESS, List.of(), null, 4, 4, FaultPump.RecordPath.SYSCALLS);
            assertTrue(openFds() > fds, "the loop opened its eventfd and a duplicate of the queue's fd");
            assertNull(loop.ring, "the ring is opened by the pump's thread");
            loop.ringEntries = IoUring.MAX_ENTRIES * 2; // the pump thread cannot open its ring
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FaultPump.launch(loop));
            assertTrue(e.getMessage().contains("entries"), e.getMessage());
            assertFalse(Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(t -> t.getName().equals(loop.name) && t.isAlive()), "the pump thread ended");
            assertEquals(fds, openFds(), "the failed setup let go of everything");
            assertTrue(loop.answers.respond(1L << AnswerQueue.SLOT_BITS, PageResponses.SUCCESS) == false);
            assertEquals(0, q.read(new io.github.iommufd4j.PageFaults(1)), "the queue itself still works");
        }
    }

    @Test
    void startRefusesRingOnTheSoftwareBackendBeforeOpeningAnything() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            FaultQueue q = fd.allocFaultQueue();
            long fds = openFds();
            assertThrows(IllegalArgumentException.class, () -> FaultPump.start(List.of(q),
                    (queue, f, first, count, ticket) -> PageResponses.SUCCESS, List.of(), null, 4, 4, FaultPump.RecordPath.RING));
            assertEquals(fds, openFds());
        } catch (IommufdException e) {
            throw new AssertionError(e);
        }
    }

    static long openFds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }
}
