package io.github.iommufd4j;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A handle caches the call stack of the thread that last began a call on it (KernelCall): another
 * thread must still use its own stack, also while the first thread's call is open, and the first
 * thread must find its own again afterwards.
 */
class KernelCallStackTest {

    @Test
    void eachThreadUsesItsOwnCallStackThroughTheHandlesCache() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            Ioas ioas = fd.allocIoas();
            AtomicInteger seenByOther = new AtomicInteger(-1), inFlightSeenByOther = new AtomicInteger(-1);
            try (KernelCall outer = KernelCall.begin(ioas, "OUTER")) { // this thread's stack is now the cached one
                Thread other = new Thread(() -> {
                    try (KernelCall k = KernelCall.begin(ioas, "OTHER")) {
                        seenByOther.set(KernelCall.heldByCurrentThread(ioas.state));
                        inFlightSeenByOther.set(ioas.state.inFlight());
                    } catch (IommufdException e) {
                        throw new AssertionError(e);
                    }
                });
                other.start();
                other.join();
                assertEquals(1, seenByOther.get()); // its own call only, not this thread's
                assertEquals(2, inFlightSeenByOther.get());
                assertEquals(1, KernelCall.heldByCurrentThread(ioas.state));
                try (KernelCall inner = KernelCall.begin(ioas, "INNER")) { // the cache names the other thread now
                    assertEquals(2, KernelCall.heldByCurrentThread(ioas.state));
                }
            }
            assertEquals(0, KernelCall.heldByCurrentThread(ioas.state));
            assertEquals(0, ioas.state.inFlight());
        }
    }
}
