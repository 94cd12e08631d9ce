package io.github.iommufd4j.internal.software;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Concurrent map/unmap on one IOAS with concurrent lookups: linearizable, consistent, no exceptions (item 8). */
class ConcurrencyTest {
    static final int THREADS = 6, OPS = 1500, REGION = 256; // pages per thread region

    @Test
    void concurrentMapUnmapAndTranslate() throws Exception {
        try (Raw raw = new Raw()) {
            int ioas = raw.ioas();
            MemorySegment mem = raw.buffer(8 * PAGE);
            long base = mem.address();
            BitSet[] mine = new BitSet[THREADS]; // pages each thread mapped in its private region (1-page maps)
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            Set<String> allowedShared = Set.of("OK", "EEXIST", "ENOENT");
            AtomicBoolean done = new AtomicBoolean();
            CountDownLatch start = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int me = t;
                mine[t] = new BitSet();
                threads.add(Thread.ofPlatform().start(() -> {
                    SplittableRandom rnd = new SplittableRandom(me);
                    try {
                        start.await();
                        long region = (long) (me + 1) * REGION * PAGE;
                        for (int i = 0; i < OPS; i++) {
                            int page = rnd.nextInt(REGION);
                            if (rnd.nextBoolean()) { // private region: exact bookkeeping
                                long at = region + page * PAGE;
                                if (mine[me].get(page)) {
                                    check(raw.unmap(ioas, at, PAGE), "OK");
                                    mine[me].clear(page);
                                } else {
                                    check(raw.map(ioas, RW | FIXED, base, PAGE, at), "OK");
                                    mine[me].set(page);
                                }
                            } else { // shared region: overlapping multi-page maps from everyone
                                long at = (16 + rnd.nextInt(64)) * PAGE;
                                int rc = rnd.nextBoolean() ? raw.map(ioas, RW | FIXED, base, 4 * PAGE, at)
                                        : raw.unmap(ioas, at, 4 * PAGE);
                                assertTrue(allowedShared.contains(IoasModelPropertyTest.name(rc)));
                            }
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }));
            }
            Thread reader = Thread.ofPlatform().start(() -> {
                SplittableRandom rnd = new SplittableRandom(99);
                while (!done.get()) {
                    long va = raw.b.translate(ioas, rnd.nextLong(8 * REGION * PAGE), false);
                    if (va != -1 && (va < base || va >= base + 8 * PAGE)) errors.add(new AssertionError("bad va " + va));
                }
            });
            start.countDown();
            for (Thread t : threads) t.join();
            done.set(true);
            reader.join();
            assertTrue(errors.isEmpty(), () -> errors.peek().toString());
            long expected = 0;
            for (int t = 0; t < THREADS; t++) {
                long region = (long) (t + 1) * REGION * PAGE;
                for (int p = 0; p < REGION; p++) {
                    assertEquals(mine[t].get(p) ? base : -1, raw.b.translate(ioas, region + p * PAGE, false));
                }
                expected += mine[t].cardinality() * PAGE;
            }
            check(raw.unmap(ioas, REGION * PAGE, THREADS * (long) REGION * PAGE), "OK");
            assertEquals(expected, raw.length);
        }
    }

    static void check(int rc, String expected) {
        assertEquals(expected, IoasModelPropertyTest.name(rc));
    }
}
