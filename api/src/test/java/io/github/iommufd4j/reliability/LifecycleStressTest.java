package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.UnsupportedCommandException;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Concurrent lifecycle stress: {@value #THREADS} threads do random operations on shared handles
 * of one iommufd ({@link StressWorld}: IOAS, mock devices, page tables, fault queues, accesses,
 * fault pumps) and close random handles while others use them: map/unmap, alloc/close, fault
 * trigger/read/answer, pump start/respond/close, waits of -1 that only a close ends, and now and
 * then a close of the iommufd itself, after which the world is made anew.
 *
 * <p>Asserted: no operation hangs (a {@link Watchdog} fails the test with every thread's stack
 * when one runs longer than {@link #hangBound}); no exception but the typed ones:
 * {@link IommufdException} (with {@link UnsupportedCommandException} and the io_uring errors),
 * {@link IllegalArgumentException} and {@link IllegalStateException}; no pump stops (a queue
 * closed under it is dropped, with a typed error); after the last close the process has the
 * file descriptors and threads it had before; the last iommufd holds no object once its handles
 * are closed (but those whose close the kernel refused, which must be destroyable once the rest
 * is gone). {@code -Diommufd4j.stress.ops} (100,000) sets the number of operations,
 * {@code -Diommufd4j.stress.seed} the seed. One summary line gives the figures.
 */
@Timeout(value = 30, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LifecycleStressTest {
    static final int THREADS = 8;
    static final long OPS = Long.getLong("iommufd4j.stress.ops", 100_000);
    static final long SEED = Long.getLong("iommufd4j.stress.seed", System.nanoTime());
    /** Operations that took longer than this are counted (natively: the kernel's destroy wait, see {@link #hangBound}). */
    static final Duration SLOW = Duration.ofSeconds(10);
    /** One operation in this many closes the iommufd (and the world is made anew). */
    static final int WORLD_EVERY = 2500;
    /** At most this many threads wait with timeout -1 at once, so that the others keep closing. */
    static final int FOREVER_WAITERS = 2;
    static final long PAGE = 4096;
    static final int BUFFERS = 8, BUFFER_PAGES = 16;

    /** The operations and their weights. */
    enum Kind {
        ALLOC_IOAS(3), MAP(10), UNMAP(7), ADD_DEVICE(3), ADD_FAULTING_DEVICE(3), ALLOC_HWPT(3), REPLACE(2),
        ALLOC_QUEUE(3), TRIGGER(10), READ_RESPOND(7), AWAIT(3), READ_BLOCKING(3), PUMP_START(1), PUMP_RESPOND(4),
        PUMP_CLOSE(1), ACCESS_CREATE(2), ACCESS_RW(5), ACCESS_PIN(2), SUPPORTS(1), CLOSE_HANDLE(7), CLOSE_IOMMUFD(0);

        final int weight;

        Kind(int weight) {
            this.weight = weight;
        }

        private static final Kind[] TABLE = table();

        private static Kind[] table() {
            List<Kind> t = new ArrayList<>();
            for (Kind k : values()) for (int i = 0; i < k.weight; i++) t.add(k);
            return t.toArray(Kind[]::new);
        }

        static Kind pick(Random r) {
            return r.nextInt(WORLD_EVERY) == 0 ? CLOSE_IOMMUFD : TABLE[r.nextInt(TABLE.length)];
        }
    }

    private static final Access[] ACCESSES = Access.values();
    private static final Command[] COMMANDS = Command.values();
    private static final int[] PUMP_BATCHES = {1, 4, 16, 64}, PUMP_OUTSTANDING = {1, 16, 1024};

    private final AtomicReference<StressWorld> world = new AtomicReference<>();
    private final AtomicLong issued = new AtomicLong();
    private final LongAdder done = new LongAdder();
    private final AtomicInteger worlds = new AtomicInteger();
    private final Semaphore foreverWaiters = new Semaphore(FOREVER_WAITERS);
    /** Per kind of operation, its outcomes. */
    private final Map<Kind, Map<String, LongAdder>> byKind = new ConcurrentHashMap<>();
    /** Per kind of operation, the longest it took (ns). */
    private final Map<Kind, AtomicLong> slowest = new ConcurrentHashMap<>();
    /** Outcomes: "ok", "skip" (nothing to work on), an errno name, "unsupported", or an exception type. */
    private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<String> untyped = new ConcurrentLinkedQueue<>();
    private final LongAdder untypedCount = new LongAdder(), pumpFaults = new LongAdder(), pumpHandlerErrors = new LongAdder(),
            foreverWaits = new LongAdder(), foreverWaitsClosed = new LongAdder(), slowOps = new LongAdder(),
            pumpDroppedQueues = new LongAdder(), pumpRejectedAnswers = new LongAdder(), pumpStops = new LongAdder();
    private final ConcurrentLinkedQueue<StressWorld.Pump> allPumps = new ConcurrentLinkedQueue<>();
    private volatile boolean stop;
    private Duration hang;
    private MemorySegment[] buffers;

    @Test
    void eightThreadsUseAndCloseSharedHandlesWithoutHangLeakOrUntypedError() throws Exception {
        try (Iommufd probe = Iommufd.open()) {
            assumeTrue(probe.mock().isPresent(), "needs the mock driver");
            hang = hangBound(probe.backend());
        }
        long fdsBefore = Leaks.openFds();
        Set<Thread> threadsBefore = liveThreads();
        Arena arena = Arena.ofShared();
        buffers = new MemorySegment[BUFFERS];
        for (int i = 0; i < BUFFERS; i++) buffers[i] = arena.allocate(BUFFER_PAGES * PAGE, PAGE);
        world.set(newWorld());

        long start = System.nanoTime();
        Watchdog watchdog = new Watchdog(THREADS, hang);
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            int slot = i;
            workers.add(Thread.ofPlatform().daemon().name("lifecycle-stress-" + i).start(() -> work(slot, watchdog)));
        }
        for (Thread t : workers) {
            while (t.isAlive() && watchdog.hang() == null && issued.get() < OPS) t.join(100);
        }
        if (watchdog.hang() != null) fail(hangFailure(watchdog.hang()));
        // Stop: threads still waiting (timeout -1) are ended by closing the queues they wait on.
        stop = true;
        List<Throwable> cleanup = new ArrayList<>();
        guarded("stopping the workers", () -> {
            for (Thread t : workers) {
                while (t.isAlive()) {
                    if (watchdog.hang() != null) return;
                    StressWorld w = world.get();
                    for (FaultQueue q : w.queues.all()) w.close(q, cleanup);
                    t.join(50);
                }
            }
        });
        if (watchdog.hang() != null) fail(hangFailure(watchdog.hang()));
        watchdog.close();
        long nanos = System.nanoTime() - start;

        // The last world: every handle closed, then nothing may be left in the iommufd.
        StressWorld last = world.get();
        guarded("closing the last world's handles", () -> cleanup.addAll(last.closeAll()));
        List<String> left = new ArrayList<>();
        guarded("looking for objects left", () -> left.addAll(objectsLeft(last)));
        guarded("closing the last iommufd and every pump", () -> {
            last.close(new Random(SEED));
            allPumps.forEach(StressWorld.Pump::close);
        });
        arena.close();
        long fdsAfter = Leaks.openFds();
        List<String> newThreads = liveThreads().stream().filter(t -> !threadsBefore.contains(t))
                .map(t -> t.getName() + " (" + t.getState() + ")").toList();

        System.out.printf("[reliability] lifecycle stress (%s backend, %d threads, seed %d): %d ops in %.1f s (%.0f ops/s), "
                        + "%d worlds; by kind %s; outcomes %s; untyped %d; over %d s %d; waits of -1 %d (%d ended by a close); "
                        + "pumps %d: faults %d, handler errors %d, queues dropped %d, answers refused %d, stopped %d; "
                        + "objects left after close %d%s; fds %d -> %d; new threads %d%n",
                last.fd.backend().name().toLowerCase(java.util.Locale.ROOT), THREADS, SEED, done.sum(), nanos / 1e9,
                done.sum() / (nanos / 1e9), worlds.get(), byKind(), sorted(outcomes), untypedCount.sum(),
                SLOW.toSeconds(), slowOps.sum(), foreverWaits.sum(), foreverWaitsClosed.sum(), allPumps.size(), pumpFaults.sum(), pumpHandlerErrors.sum(),
                pumpDroppedQueues.sum(), pumpRejectedAnswers.sum(), pumpStops.sum(), left.size(), last.refusedClose ? " (a close was refused)" : "",
                fdsBefore, fdsAfter, newThreads.size());

        assertEquals(List.of(), untyped.stream().limit(10).toList(), untypedCount.sum() + " untyped exceptions (first 10 shown)");
        assertEquals(List.of(), cleanup.stream().map(Throwable::toString).toList(), "errors closing the last world's handles");
        assertEquals(0, pumpStops.sum(), "pumps stopped (a closed or failing queue must only be dropped)");
        if (!last.refusedClose) assertEquals(List.of(), left, "objects left although every close succeeded");
        assertEquals(fdsBefore, fdsAfter, "open file descriptors before and after");
        assertEquals(List.of(), newThreads, "threads left running");
        assertEquals(OPS, done.sum(), "operations done");
    }

    // ---- the workers ----

    private void work(int slot, Watchdog watchdog) {
        Random r = new Random(SEED + slot);
        Worker me = new Worker(r, buffers[slot % BUFFERS].asSlice(0, PAGE));
        while (!stop && issued.getAndIncrement() < OPS) {
            StressWorld w = world.get();
            Kind kind = Kind.pick(r);
            watchdog.begin(slot, kind.name());
            long t0 = System.nanoTime();
            String outcome;
            try {
                outcome = run(kind, w, me) ? "ok" : "skip";
            } catch (Throwable t) {
                outcome = classify(t);
            } finally {
                watchdog.end(slot);
            }
            long took = System.nanoTime() - t0;
            slowest.computeIfAbsent(kind, k -> new AtomicLong()).accumulateAndGet(took, Math::max);
            if (took > SLOW.toNanos()) slowOps.increment();
            outcomes.computeIfAbsent(outcome, k -> new LongAdder()).increment();
            byKind.computeIfAbsent(kind, k -> new ConcurrentHashMap<>()).computeIfAbsent(outcome, k -> new LongAdder()).increment();
            done.increment();
        }
    }

    /** Per-thread buffers. */
    private record Worker(Random r, MemorySegment rw, PageFaults batch, PageResponses answers) {
        Worker(Random r, MemorySegment rw) {
            this(r, rw, new PageFaults(16), new PageResponses(16));
        }
    }

    /** The typed outcome's name; anything else is recorded as untyped, with its stack. */
    private String classify(Throwable t) {
        if (t instanceof UnsupportedCommandException) return "unsupported";
        if (t instanceof IommufdException e) return e.errnoName();
        if (t instanceof IllegalArgumentException || t instanceof IllegalStateException) return t.getClass().getSimpleName();
        untypedCount.increment();
        if (untyped.size() < 10) {
            StringBuilder b = new StringBuilder(t.toString());
            for (StackTraceElement f : t.getStackTrace()) b.append("\n    at ").append(f);
            untyped.add(b.toString());
        }
        return "untyped " + t.getClass().getSimpleName();
    }

    /** Runs one operation; false if there was nothing to work on. */
    private boolean run(Kind kind, StressWorld w, Worker me) throws Exception {
        Random r = me.r();
        switch (kind) {
            case ALLOC_IOAS -> {
                Ioas a = w.fd.allocIoas();
                w.noteId(a.id());
                offer(w.ioas, a);
            }
            case MAP -> {
                Ioas a = w.ioas.pick(r);
                if (a == null) return false;
                MemorySegment m = buffers[r.nextInt(BUFFERS)].asSlice(0, (1 + r.nextInt(BUFFER_PAGES)) * PAGE);
                Access access = ACCESSES[r.nextInt(ACCESSES.length)];
                if (r.nextBoolean()) a.map(m, access);
                else a.map(m, iova(r), access);
            }
            case UNMAP -> {
                Ioas a = w.ioas.pick(r);
                if (a == null) return false;
                if (r.nextInt(8) == 0) a.unmapAll();
                else a.unmap(iova(r), (1 + r.nextInt(BUFFER_PAGES)) * PAGE);
            }
            case ADD_DEVICE -> {
                Ioas a = w.ioas.pick(r);
                if (a == null) return false;
                offer(w.devices, note(w, w.mock.addDevice(a)));
            }
            case ADD_FAULTING_DEVICE -> {
                Ioas a = w.ioas.pick(r);
                FaultQueue q = w.queues.pick(r);
                if (a == null || q == null) return false;
                offer(w.faulting, note(w, w.mock.addFaultingDevice(a, q)));
            }
            case ALLOC_HWPT -> {
                MockDevice d = anyDevice(w, r);
                Ioas a = w.ioas.pick(r);
                if (d == null || a == null) return false;
                HwPagetable h = w.fd.allocHwpt(d.deviceId(), a);
                w.noteId(h.id());
                offer(w.hwpts, h);
            }
            case REPLACE -> {
                MockDevice d = anyDevice(w, r);
                if (d == null) return false;
                HwPagetable h = w.hwpts.pick(r);
                Ioas a = w.ioas.pick(r);
                if (h != null && (a == null || r.nextBoolean())) d.replace(h.id());
                else if (a != null) d.replace(a.id());
                else return false;
            }
            case ALLOC_QUEUE -> {
                FaultQueue q = w.fd.allocFaultQueue();
                w.noteId(q.id());
                offer(w.queues, q);
            }
            case TRIGGER -> {
                MockDevice d = w.faulting.pick(r);
                if (d == null) return false;
                d.triggerPageFault(0, r.nextInt(256), PageFaults.PERM_READ, iova(r));
            }
            case READ_RESPOND -> {
                FaultQueue q = w.queues.pick(r);
                if (q == null) return false;
                answer(q, q.read(me.batch()), me);
            }
            case AWAIT, READ_BLOCKING -> {
                FaultQueue q = w.queues.pick(r);
                if (q == null) return false;
                boolean forever = r.nextInt(4) == 0 && foreverWaiters.tryAcquire();
                try {
                    int timeout = forever ? -1 : r.nextInt(3);
                    if (forever) foreverWaits.increment();
                    if (kind == Kind.AWAIT) q.await(timeout);
                    else answer(q, q.readBlocking(me.batch(), timeout), me);
                } catch (IommufdException e) {
                    if (forever && e.errnoName().equals("EBADF")) foreverWaitsClosed.increment();
                    throw e;
                } finally {
                    if (forever) foreverWaiters.release();
                }
            }
            case PUMP_START -> {
                List<FaultQueue> qs = w.queues.all().stream().filter(q -> !q.isClosed()).toList();
                if (qs.isEmpty()) return false;
                StressWorld.Pump pump = new StressWorld.Pump(qs, this::pumpClosed);
                allPumps.add(pump);
                pump.started(FaultPump.start(qs, handler(w, pump), PUMP_BATCHES[r.nextInt(PUMP_BATCHES.length)],
                        PUMP_OUTSTANDING[r.nextInt(PUMP_OUTSTANDING.length)]));
                if (!w.pumps.offer(pump) || w.closed) pump.close();
            }
            case PUMP_RESPOND -> {
                StressWorld.Deferred d = w.deferred.poll();
                if (d == null) return false;
                FaultPump p = d.pump().pump();
                if (p == null) {
                    w.deferred.add(d);
                    return false;
                }
                p.respond(d.ticket(), r.nextInt(8) == 0 ? PageResponses.INVALID : PageResponses.SUCCESS);
            }
            case PUMP_CLOSE -> {
                StressWorld.Pump p = w.pumps.pick(r);
                if (p == null) return false;
                p.close();
                w.pumps.remove(p);
            }
            case ACCESS_CREATE -> {
                Ioas a = w.ioas.pick(r);
                if (a == null) return false;
                offer(w.accesses, w.mock.createAccess(a, r.nextBoolean()));
            }
            case ACCESS_RW -> {
                MockAccess x = w.accesses.pick(r);
                if (x == null) return false;
                x.rw(iova(r) + r.nextInt(64), me.rw().asSlice(0, 1 + r.nextInt(256)), r.nextBoolean());
            }
            case ACCESS_PIN -> {
                MockAccess x = w.accesses.pick(r);
                if (x == null) return false;
                x.unpin(x.pin(iova(r), PAGE, r.nextBoolean()));
            }
            case SUPPORTS -> w.fd.supports(COMMANDS[r.nextInt(COMMANDS.length)]);
            case CLOSE_HANDLE -> {
                StressWorld.Slots<? extends AutoCloseable> s = switch (r.nextInt(6)) {
                    case 0 -> w.ioas;
                    case 1 -> w.devices;
                    case 2 -> w.faulting;
                    case 3 -> w.hwpts;
                    case 4 -> w.queues;
                    default -> w.accesses;
                };
                return closeOne(w, s, r);
            }
            case CLOSE_IOMMUFD -> {
                // The others move on to a new world while this one closes under those still using it.
                if (!w.closing.compareAndSet(false, true)) return false;
                world.set(newWorld());
                w.close(r);
            }
        }
        return true;
    }

    private static <T extends AutoCloseable> boolean closeOne(StressWorld w, StressWorld.Slots<T> s, Random r) throws Exception {
        T h = s.pick(r);
        if (h == null) return false;
        try {
            h.close();
        } catch (IommufdException e) {
            if (e.errnoName().equals("EBUSY")) w.refusedClose = true; // the kernel object lives until the iommufd closes
            throw e;
        } finally {
            s.remove(h);
        }
        return true;
    }

    /** Keeps a new handle in a slot, or closes it when every slot is taken. */
    private static <T extends AutoCloseable> void offer(StressWorld.Slots<T> s, T h) throws Exception {
        if (!s.offer(h)) h.close();
    }

    private static MockDevice note(StressWorld w, MockDevice d) {
        w.noteId(d.stdevId());
        w.noteId(d.deviceId());
        w.noteId(d.hwptId());
        return d;
    }

    private static MockDevice anyDevice(StressWorld w, Random r) {
        return r.nextBoolean() ? w.devices.pick(r) : w.faulting.pick(r);
    }

    /** One of 8 IOVAs 16 pages apart in the mock aperture: maps of one IOVA collide (EEXIST). */
    private static long iova(Random r) {
        return MockDriver.APERTURE_START + r.nextInt(8) * BUFFER_PAGES * PAGE;
    }

    /** Answers the complete groups of what was read. */
    private static void answer(FaultQueue q, int n, Worker me) throws IommufdException {
        PageFaults batch = me.batch();
        PageResponses answers = me.answers();
        answers.clear();
        for (int i = 0; i < n; i++) if (batch.lastPage(i)) answers.add(batch.cookie(i), PageResponses.SUCCESS);
        try {
            q.respond(answers);
        } finally {
            answers.clear();
        }
    }

    /** Answers most groups at once, defers some (answered by PUMP_RESPOND), and fails a few. */
    private static FaultHandler handler(StressWorld w, StressWorld.Pump pump) {
        return (queue, faults, first, count, ticket) -> {
            int x = ThreadLocalRandom.current().nextInt(100);
            if (x < 20) {
                w.deferred.add(new StressWorld.Deferred(pump, ticket));
                return FaultHandler.DEFERRED;
            }
            if (x == 20) throw new IllegalStateException("a failing handler (stress test)");
            return PageResponses.SUCCESS;
        };
    }

    /**
     * Counts what a closed pump did. A queue closed under it is dropped (its error must be typed);
     * the pump itself must never have stopped (only a failure of its ring may stop it).
     */
    private void pumpClosed(StressWorld.Pump pump) {
        FaultPump p = pump.pump();
        pumpFaults.add(p.faults());
        pumpHandlerErrors.add(p.handlerErrors());
        pumpDroppedQueues.add(p.droppedQueues());
        pumpRejectedAnswers.add(p.rejectedAnswers() + p.refusedAnswers());
        for (FaultQueue q : pump.queues()) {
            Throwable f = p.queueFailure(q);
            if (f != null) outcomes.computeIfAbsent("queue dropped: " + classify(f), k -> new LongAdder()).increment();
        }
        Throwable f = p.failure();
        if (f != null) {
            pumpStops.increment();
            outcomes.computeIfAbsent("pump stopped: " + classify(f), k -> new LongAdder()).increment();
        }
    }

    private StressWorld newWorld() throws IommufdException {
        worlds.incrementAndGet();
        return new StressWorld(Iommufd.open());
    }

    // ---- the final checks ----

    /**
     * Objects the iommufd still holds: each id destroyed now is one (several rounds, since a
     * refused object may be held by another left one); none may stay busy, and then the
     * iommufd must be empty ({@link Leaks#assertNoObjects}).
     */
    private static List<String> objectsLeft(StressWorld w) throws IommufdException {
        int maxId = 2 * w.maxId() + 64;
        List<String> left = new ArrayList<>();
        List<Integer> busy = new ArrayList<>();
        for (int round = 0; round < 8; round++) {
            busy.clear();
            boolean destroyed = false;
            for (int id = 1; id <= maxId; id++) {
                try {
                    w.fd.destroy(id);
                    left.add(id + " (destroyed in round " + round + ")");
                    destroyed = true;
                } catch (IommufdException e) {
                    if (e.errnoName().equals("EBUSY")) busy.add(id);
                    else if (!e.errnoName().equals("ENOENT")) left.add(id + " (" + e.errnoName() + ")");
                }
            }
            if (!destroyed) break;
        }
        assertEquals(List.of(), busy, "objects still busy after every handle was closed");
        Leaks.assertNoObjects(w.fd, maxId);
        return left;
    }

    /** Runs a step of the shutdown in its own thread and fails if it does not return within the bound. */
    private void guarded(String what, Step step) throws Exception {
        AtomicReference<Throwable> error = new AtomicReference<>();
        Thread t = Thread.ofPlatform().daemon().name("lifecycle-stress-" + what.replace(' ', '-')).start(() -> {
            try {
                step.run();
            } catch (Throwable e) {
                error.set(e);
            }
        });
        t.join(hang.toMillis());
        if (t.isAlive()) fail(hangFailure(what + " has not returned for " + hang.toSeconds() + " s\n" + Watchdog.threadDump()));
        if (error.get() instanceof Exception e) throw e;
        if (error.get() instanceof Error e) throw e;
    }

    /**
     * How long one operation may take before it counts as a hang: 30 s on the software backend;
     * natively 300 s, because the kernel's destroy of a device (or an access) waits up to 60 s,
     * uninterruptibly, for ioctls still using the object, and their end does not wake it
     * (iommufd_object_dec_wait sleeps in wait_event_timeout, iommufd_put_object wakes only
     * interruptible sleepers, in 6.12 and 7.3): a close racing such a call sits out the whole
     * 60 s, and a close cascading over several devices may do so more than once.
     * {@code -Diommufd4j.stress.hangSeconds} overrides it.
     */
    static Duration hangBound(Backend backend) {
        return Duration.ofSeconds(Integer.getInteger("iommufd4j.stress.hangSeconds", backend == Backend.NATIVE ? 300 : 30));
    }

    @FunctionalInterface
    private interface Step {
        void run() throws Exception;
    }

    private String hangFailure(String report) {
        StringBuilder pumps = new StringBuilder("pumps whose thread runs:\n");
        for (StressWorld.Pump p : allPumps) {
            FaultPump f = p.pump();
            if (f != null) pumps.append(io.github.iommufd4j.pump.PumpStates.describe(f));
        }
        report = report + pumps;
        System.out.println("[reliability] lifecycle stress: HANG: " + report);
        return "hang: " + report;
    }

    /** Live platform threads outside the JVM's own thread group. */
    private static Set<Thread> liveThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> {
            ThreadGroup g = t.getThreadGroup();
            return t.isAlive() && g != null && !g.getName().equals("system") && !g.getName().equals("InnocuousThreadGroup");
        }).collect(Collectors.toSet());
    }

    /** Per kind: its count, outcomes and longest time, e.g. {@code MAP=12441 {EEXIST=92, ok=...} max 1.2 ms}. */
    private String byKind() {
        Map<Kind, String> out = new TreeMap<>();
        byKind.forEach((k, m) -> out.put(k, m.values().stream().mapToLong(LongAdder::sum).sum() + " " + sorted(m)
                + String.format(" max %.1f ms", slowest.get(k).get() / 1e6)));
        return out.toString();
    }

    private static <K extends Comparable<K>> String sorted(Map<K, LongAdder> m) {
        Map<K, Long> out = new TreeMap<>();
        m.forEach((k, v) -> out.put(k, v.sum()));
        return out.toString();
    }
}
