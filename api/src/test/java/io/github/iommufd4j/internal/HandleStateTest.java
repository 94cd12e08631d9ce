package io.github.iommufd4j.internal;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class HandleStateTest {

    @Test
    void closeSucceedsOnceAndRefusesNewOperations() {
        HandleState s = new HandleState();
        assertTrue(s.enter());
        s.exit();
        assertTrue(s.close());
        assertFalse(s.close());
        assertFalse(s.enter());
        assertTrue(s.isClosed());
    }

    @Test
    void closeWaitsForOperationsInProgress() throws Exception {
        HandleState s = new HandleState();
        assertTrue(s.enter());
        AtomicBoolean closed = new AtomicBoolean();
        Thread closer = Thread.ofPlatform().start(() -> closed.set(s.close()));
        Thread.sleep(100);
        assertFalse(closed.get(), "close must wait for the running operation");
        assertTrue(closer.isAlive());
        s.exit();
        closer.join(5000);
        assertTrue(closed.get());
    }

    @Test
    void concurrentUseAndCloseNeverLetAnOperationStartAfterClose() throws Exception {
        for (int round = 0; round < 50; round++) {
            HandleState s = new HandleState();
            AtomicInteger afterClose = new AtomicInteger();
            AtomicBoolean closedFlag = new AtomicBoolean();
            CountDownLatch go = new CountDownLatch(1);
            Thread[] users = new Thread[4];
            for (int i = 0; i < users.length; i++) {
                users[i] = Thread.ofPlatform().start(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    while (s.enter()) {
                        if (closedFlag.get()) afterClose.incrementAndGet();
                        s.exit();
                    }
                });
            }
            go.countDown();
            Thread.sleep(1);
            assertTrue(s.close());
            closedFlag.set(true);
            for (Thread t : users) t.join(5000);
            assertEquals(0, afterClose.get(), "an operation ran after close() returned");
        }
    }
}
