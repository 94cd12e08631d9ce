package io.github.iommufd4j.reliability;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.pump.FaultPump;
import io.github.iommufd4j.pump.FaultHandler;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * File descriptor and handle leak check over many open/close cycles of an iommufd with an IOAS,
 * a fault queue, a faulting mock device and an access, closed in different orders, sometimes
 * with a fault left unanswered or a pump running. {@code -Diommufd4j.leak.cycles} (10,000).
 */
class HandleLeakTest {
    static final int CYCLES = Integer.getInteger("iommufd4j.leak.cycles", 10_000);

    @Test
    void openCloseCyclesLeakNoFdNoObjectAndNoThread() throws Exception {
        try (Iommufd f = Iommufd.open()) {
            assumeTrue(f.mock().isPresent(), "needs the mock driver");
        }
        long fds = Leaks.openFds();
        for (int i = 0; i < CYCLES; i++) {
            try (Iommufd f = Iommufd.open()) {
                Ioas ioas = f.allocIoas();
                FaultQueue q = f.allocFaultQueue();
                MockDevice dev = f.mock().addFaultingDevice(ioas, q);
                MockAccess a = f.mock().createAccess(ioas, false);
                switch (i % 4) {
                    case 0 -> dev.triggerPageFault(0, 1, PageFaults.PERM_READ, 0); // unanswered at close
                    case 1 -> { // everything closed by hand, then the iommufd must be empty
                        a.close();
                        q.close();
                        ioas.close();
                        Leaks.assertNoObjects(f, 8);
                    }
                    case 2 -> {
                        try (FaultPump p = FaultPump.start(q, (qq, r, first, n, t) -> FaultHandler.DEFERRED)) {
                            dev.triggerPageFault(1, 2, PageFaults.PERM_WRITE, 0x1000);
                        }
                    }
                    default -> q.close(); // the device's page table still uses the queue: closed with it
                }
            }
            if (i % 1000 == 0) assertEquals(fds, Leaks.openFds(), "after cycle " + i);
        }
        assertEquals(fds, Leaks.openFds(), "file descriptors after " + CYCLES + " cycles");
        List<String> ours = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("iommufd4j")).map(Thread::getName).toList();
        assertEquals(List.of(), ours, "no thread of ours left");
        System.out.println("[reliability] leak check: " + CYCLES + " open/close cycles, fds " + fds + " -> " + Leaks.openFds());
    }
}
