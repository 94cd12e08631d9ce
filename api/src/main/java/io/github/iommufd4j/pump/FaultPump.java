package io.github.iommufd4j.pump;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.internal.Jfr;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Moves I/O page faults from one or more fault queues to a {@link FaultHandler} on one platform
 * thread ({@code iommufd4j-fault-pump-N}), in batches, without allocating per fault: the part of
 * a VMM that keeps devices doing DMA into memory that is not there yet (post-copy migration,
 * lazily populated guest RAM, SVA). The handler makes the pages present and answers each page
 * request group:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=pump}
 *
 * <p>A group whose resolution takes time (e.g. fetching a page over the network) is deferred and
 * answered later from any thread, so the pump keeps serving other groups meanwhile:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=deferred}
 *
 * <p>The counters ({@link #faults()}, {@link #groups()}, {@link #batches()},
 * {@link #outstanding()}, {@link #handlerErrors()} ...) are cheap to read from any thread, and
 * {@link #toString()} prints them; while a JFR recording runs the pump also records an
 * {@code io.github.iommufd4j.FaultBatch} event per batch and an
 * {@code io.github.iommufd4j.FaultPumpStatistics} event with these counters each period (README
 * "Observability").
 *
 * <p>How: an io_uring multiplexes readiness (a POLL_ADD per fault queue, armed again in the same
 * io_uring_enter that waits, and a multishot one on an eventfd that wakes the pump for deferred
 * answers and shutdown); records are read with read(2) of whole batches until a read comes back
 * short ({@link RecordPath#SYSCALLS}, the default: the faster path on 6.12 and 7.3 at every load we
 * measured, see the README), and on the kernel's queues the answers go back as an IORING_OP_WRITE
 * submitted by that same enter: a batch costs one io_uring_enter and one read(2)
 * ({@link #systemCalls()}). {@link RecordPath#RING} keeps an IORING_OP_READ per fault queue in
 * flight instead. vIOMMU event queues ({@link EventQueue}) are served by the same ring and thread.
 *
 * <p>Contract:
 * <ul>
 * <li>{@code start} checks its arguments before it opens anything ({@link IllegalArgumentException});
 *     it returns once the pump serves, or throws why it could not start.</li>
 * <li>Each group goes to the handler whole (a group larger than {@code batch} grows that queue's
 *     read buffer, up to {@value FaultSource#MAX_GROUP} records). The handler answers SUCCESS or
 *     INVALID, or DEFERRED to answer later with {@link #respond}. A handler that throws or returns
 *     any other code is counted in {@link #handlerErrors()} and its group answered INVALID.</li>
 * <li>At most {@code maxOutstanding} groups wait for a deferred answer; while that many wait, the
 *     pump hands no further group to the handler (the kernel keeps the faults queued).</li>
 * <li>Tickets are unique over the pump's life: an answer for an unknown ticket, a group answered
 *     already or a queue the pump dropped is refused ({@code respond} returns false; counted in
 *     {@link #rejectedAnswers()}), never applied to another group.</li>
 * <li>A queue that fails (the application closed it, or a read or write of it failed) is dropped:
 *     the pump stops serving it, counts it in {@link #droppedQueues()}, keeps the reason for
 *     {@link #queueFailure}, and keeps serving the others. An answer the kernel refuses (EINVAL:
 *     its group was answered already, e.g. when the device was detached) is counted in
 *     {@link #refusedAnswers()} and skipped. Only a failure of the ring itself stops the pump
 *     ({@link #failure()}).</li>
 * <li>{@link #close()} is idempotent and thread-safe: it stops the pump, answers INVALID every
 *     group read and not answered, cancels the ring's operations and joins the thread. Called from
 *     the pump's own thread (a handler), it returns at once and the pump stops after the handler
 *     returns. After close, {@link #respond} returns false without a system call.</li>
 * <li>A queue may be closed while the pump serves it, from any thread (a handler included), as may
 *     its iommufd: the close makes the pump drop the queue and let go of its file (the ring's
 *     poll and the pump's duplicate of the fd), waits for that, and then destroys the queue.</li>
 * </ul>
 */
public final class FaultPump implements AutoCloseable {
    /** The largest {@code batch}: records read per read(2). */
    public static final int MAX_BATCH = 4096;
    /** The largest {@code maxOutstanding}: groups waiting for a deferred answer at once. */
    public static final int MAX_OUTSTANDING = AnswerQueue.MAX_SLOTS;
    private static final AtomicInteger PUMPS = new AtomicInteger();

    /**
     * How the records of fault queues move once the ring reported them readable; answers go by
     * write(2) either way. Both handle the same faults; they differ in system calls and latency.
     */
    public enum RecordPath {
        /** read(2) and write(2) from the pump thread: one syscall each per batch (the default). */
        SYSCALLS,
        /**
         * An IORING_OP_READ always in flight per queue, the fd in O_NONBLOCK mode so that the
         * kernel performs it inline (answers still by write(2)); the kernel's fds only.
         */
        RING
    }

    private final List<FaultQueue> queues;
    private final List<EventQueue> eventQueues;
    private final int batch, maxOutstanding;
    private final RecordPath path;
    final PumpLoop loop; // package-private: tests describe its state
    private final Thread thread;

    private FaultPump(List<FaultQueue> queues, List<EventQueue> eventQueues, int batch, int maxOutstanding,
                      RecordPath path, PumpLoop loop, Thread thread) {
        this.queues = queues;
        this.eventQueues = eventQueues;
        this.batch = batch;
        this.maxOutstanding = maxOutstanding;
        this.path = path;
        this.loop = loop;
        this.thread = thread;
    }

    /**
     * A pump over one queue with batches of 64 and up to 1024 deferred groups.
     *
     * {@snippet class=io.github.iommufd4j.snippets.Snippets region=pump}
     *
     * @param queue   the fault queue to serve
     * @param handler answers each group, on the pump's thread
     * @return the running pump; close it before the queue
     * @throws IommufdException EBADF for a closed queue; the io_uring or eventfd error if the pump
     *         cannot be set up
     * @throws IllegalArgumentException for a null queue or handler
     */
    public static FaultPump start(FaultQueue queue, FaultHandler handler) throws IommufdException {
        if (queue == null) throw new IllegalArgumentException("queue is null");
        return start(List.of(queue), handler, 64, 1024);
    }

    /**
     * Starts a pump over fault queues.
     *
     * @param queues         the fault queues, not empty, each listed once
     * @param handler        answers each group, on the pump's thread
     * @param batch          records read per read(2), 1..{@value #MAX_BATCH}
     * @param maxOutstanding groups that may wait for a deferred answer at once, 1..{@value #MAX_OUTSTANDING}
     * @return the running pump; close it before the queues
     * @throws IommufdException EBADF for a closed queue; the io_uring or eventfd error if the pump
     *         cannot be set up
     * @throws IllegalArgumentException for a bad argument (nothing was opened)
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, int batch, int maxOutstanding)
            throws IommufdException {
        return start(queues, handler, List.of(), null, batch, maxOutstanding);
    }

    /**
     * Starts a pump over fault queues and vIOMMU event queues (either list may be empty, not both),
     * served by the same thread.
     *
     * @param queues         the fault queues, each listed once (may be empty)
     * @param handler        answers each group, on the pump's thread (null when there are no fault queues)
     * @param eventQueues    the event queues, each listed once (may be empty)
     * @param eventHandler   takes each batch of events, on the pump's thread (null when there are no
     *                       event queues)
     * @param batch          records read per read(2), 1..{@value #MAX_BATCH}
     * @param maxOutstanding groups that may wait for a deferred answer at once, 1..{@value #MAX_OUTSTANDING}
     * @return the running pump; close it before the queues
     * @throws IommufdException         EBADF for a queue that is closed; the io_uring or eventfd
     *                                  error if the pump cannot be set up
     * @throws IllegalArgumentException for a bad argument (nothing was opened)
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues,
                                  EventHandler eventHandler, int batch, int maxOutstanding) throws IommufdException {
        return start(queues, handler, eventQueues, eventHandler, batch, maxOutstanding, RecordPath.SYSCALLS);
    }

    /**
     * As {@link #start(List, FaultHandler, List, EventHandler, int, int)}, with the fault records'
     * path. {@link RecordPath#RING} needs the kernel's fds: the software backend's records are
     * taken through its model (whole groups, cookies), so it refuses RING.
     *
     * @param queues         the fault queues, each listed once (may be empty)
     * @param handler        answers each group, on the pump's thread (null when there are no fault queues)
     * @param eventQueues    the event queues, each listed once (may be empty)
     * @param eventHandler   takes each batch of events, on the pump's thread (null when there are no
     *                       event queues)
     * @param batch          records read per read(2), 1..{@value #MAX_BATCH}
     * @param maxOutstanding groups that may wait for a deferred answer at once, 1..{@value #MAX_OUTSTANDING}
     * @param path           how fault records move: {@link RecordPath#SYSCALLS} or {@link RecordPath#RING}
     * @return the running pump; close it before the queues
     * @throws IllegalArgumentException for a bad argument (nothing was opened)
     * @throws IommufdException         EBADF for a queue that is closed; the io_uring or eventfd
     *                                  error if the pump cannot be set up
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues,
                                  EventHandler eventHandler, int batch, int maxOutstanding, RecordPath path)
            throws IommufdException {
        List<FaultQueue> fq = checked(queues, "queues");
        List<EventQueue> eq = checked(eventQueues, "eventQueues");
        if (batch < 1 || batch > MAX_BATCH) throw new IllegalArgumentException("batch must be 1.." + MAX_BATCH + " records: " + batch);
        if (maxOutstanding < 1 || maxOutstanding > MAX_OUTSTANDING) {
            throw new IllegalArgumentException("maxOutstanding must be 1.." + MAX_OUTSTANDING + " groups: " + maxOutstanding);
        }
        if (path == null) throw new IllegalArgumentException("path is null");
        if (fq.isEmpty() && eq.isEmpty()) throw new IllegalArgumentException("no queues to serve");
        if (!fq.isEmpty() && handler == null) throw new IllegalArgumentException("fault queues need a FaultHandler");
        if (!eq.isEmpty() && eventHandler == null) throw new IllegalArgumentException("event queues need an EventHandler");
        if (path == RecordPath.RING && fq.stream().anyMatch(q -> q.backend() != Backend.NATIVE)) {
            throw new IllegalArgumentException("RecordPath.RING needs fault queues of the kernel's iommufd (native backend)");
        }
        for (FaultQueue q : fq) if (q.isClosed()) throw new IommufdException("FaultPump.start", q.toString(), 9);
        for (EventQueue q : eq) if (q.isClosed()) throw new IommufdException("FaultPump.start", q.toString(), 9);

        String name = "iommufd4j-fault-pump-" + PUMPS.incrementAndGet();
        PumpLoop loop = new PumpLoop(name, fq, handler, eq, eventHandler, batch, maxOutstanding, path);
        FaultPump pump = new FaultPump(fq, eq, batch, maxOutstanding, path, loop, launch(loop));
        if (Jfr.PRESENT) FaultPumpStatisticsEvent.register(pump, fq.size(), eq.size(), maxOutstanding); // JFR: periodic statistics
        return pump;
    }

    /** Starts the loop's thread and returns it once the loop serves; throws what stopped the loop's setup. */
    static Thread launch(PumpLoop loop) throws IommufdException {
        Thread thread;
        try {
            thread = loop.thread;
            thread.start();
        } catch (RuntimeException | Error e) { // e.g. no native thread: the loop never ran
            loop.release();
            throw e;
        }
        awaitUninterruptibly(loop);
        Throwable t = loop.setupFailure;
        if (t != null) {
            joinUninterruptibly(thread); // it shuts down what it had opened
            switch (t) {
                case IommufdException e -> throw e;
                case RuntimeException e -> throw e;
                case Error e -> throw e;
                default -> throw new IllegalStateException("fault pump could not start", t);
            }
        }
        return thread;
    }

    /** A copy of the list, refusing a null list, a null element and a queue listed twice. */
    private static <Q> List<Q> checked(List<Q> list, String what) {
        if (list == null) throw new IllegalArgumentException(what + " is null");
        List<Q> copy = new ArrayList<>(list.size());
        Set<Q> seen = new HashSet<>();
        for (Q q : list) {
            if (q == null) throw new IllegalArgumentException(what + "[" + copy.size() + "] is null");
            if (!seen.add(q)) throw new IllegalArgumentException(what + " lists " + q + " twice");
            copy.add(q);
        }
        return List.copyOf(copy);
    }

    private static void awaitUninterruptibly(PumpLoop loop) {
        boolean interrupted = false;
        for (;;) {
            try {
                loop.started.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        for (;;) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /**
     * Answers a group the handler deferred; callable from any thread, the handler included. Never
     * blocks: the answer is queued for the pump thread, which writes it.
     *
     * @param ticket the ticket the handler got with the group
     * @param code   {@link PageResponses#SUCCESS} or {@link PageResponses#INVALID}
     * @return true if the answer was taken; false if the pump is closed (no system call is made
     *         then) or the ticket is not one waiting for an answer: unknown, answered already, or of
     *         a queue the pump dropped (counted in {@link #rejectedAnswers()})
     * @throws IllegalArgumentException for any other code (the group keeps waiting)
     */
    public boolean respond(long ticket, int code) {
        return loop.answers.respond(ticket, code);
    }

    /**
     * Fault records handed to the handler (a group of n records counts n).
     *
     * @return the count so far; final once the pump is closed
     */
    public long faults() { return loop.faults.get(); }
    /**
     * Page request groups handed to the handler.
     *
     * @return the count so far; final once the pump is closed
     */
    public long groups() { return loop.groups.get(); }
    /**
     * Reads that brought records or events: {@code faults() / batches()} is the mean batch size.
     *
     * @return the count so far
     */
    public long batches() { return loop.batches.get(); }
    /**
     * Handler calls that threw or returned a code other than SUCCESS, INVALID or DEFERRED; their
     * groups were answered INVALID.
     *
     * @return the count so far
     */
    public long handlerErrors() { return loop.handlerErrors.get(); }
    /**
     * vEVENT records handed to the event handler (lost-events headers included).
     *
     * @return the count so far
     */
    public long events() { return loop.events.get(); }
    /**
     * Places where an event queue overflowed (lost-events headers and sequence gaps).
     *
     * @return the count so far
     */
    public long lossMarks() { return loop.lossMarks.get(); }
    /**
     * Groups deferred by the handler and not answered yet (at most {@code maxOutstanding}; at that
     * many, the pump stops handing out groups until one is answered).
     *
     * @return the count now
     */
    public int outstanding() { return loop.answers.outstanding(); }
    /**
     * {@link #respond} calls refused: the ticket was unknown, answered already or of a dropped queue.
     *
     * @return the count so far
     */
    public long rejectedAnswers() { return loop.answers.rejected(); }
    /**
     * Answers the kernel refused (EINVAL: the group was answered already, e.g. after its device was
     * detached).
     *
     * @return the count so far
     */
    public long refusedAnswers() { return loop.refusedAnswers.get(); }
    /**
     * Queues the pump stopped serving (see {@link #queueFailure}).
     *
     * @return the count so far
     */
    public long droppedQueues() { return loop.droppedQueues.get(); }
    /**
     * System calls the pump's thread made: io_uring_enter, read(2) and write(2) together
     * ({@code systemCalls() / faults()} is the cost per fault; the ring's writes are no write(2)).
     *
     * @return the count so far
     */
    public long systemCalls() { return loop.ring.enters() + loop.reads.get() + loop.writes.get(); }
    /**
     * The pump thread's io_uring_enter calls.
     *
     * @return the count so far
     */
    public long ringEnters() { return loop.ring.enters(); }
    /**
     * The pump thread's read(2) calls (fault and event queues, its wake-up eventfd).
     *
     * @return the count so far
     */
    public long reads() { return loop.reads.get(); }
    /**
     * The pump thread's write(2) calls of answers: answers that could not go through the ring.
     *
     * @return the count so far
     */
    public long writes() { return loop.writes.get(); }

    /**
     * Why the pump stopped serving a fault queue.
     *
     * @param queue one of the pump's fault queues
     * @return the error that dropped it (e.g. EBADF when it was closed), or null while it is served
     * @throws IllegalArgumentException if the pump does not serve {@code queue}
     */
    public Throwable queueFailure(FaultQueue queue) {
        int i = queues.indexOf(queue);
        if (i < 0) throw new IllegalArgumentException("not a queue of this pump: " + queue);
        return loop.faultSources[i].failure();
    }

    /**
     * Why the pump stopped serving an event queue.
     *
     * @param queue one of the pump's event queues
     * @return the error that dropped it, or null while it is served
     * @throws IllegalArgumentException if the pump does not serve {@code queue}
     */
    public Throwable queueFailure(EventQueue queue) {
        int i = eventQueues.indexOf(queue);
        if (i < 0) throw new IllegalArgumentException("not an event queue of this pump: " + queue);
        return loop.eventSources[i].failure();
    }

    /**
     * The error of the ring that stopped the pump, if any (a queue's own errors only drop that queue).
     *
     * @return the error, or null while the pump runs or after a clean close
     */
    public Throwable failure() {
        return loop.failure;
    }

    /**
     * The path fault records take.
     *
     * @return {@link RecordPath#SYSCALLS} unless started with RING
     */
    public RecordPath recordPath() {
        return path;
    }

    /**
     * The pump thread's name, e.g. for thread dumps and profilers.
     *
     * @return {@code iommufd4j-fault-pump-N}
     */
    public String threadName() {
        return thread.getName();
    }

    /**
     * Whether {@link #close()} was called or the pump stopped.
     *
     * @return true once the pump no longer serves
     */
    public boolean isClosed() {
        return loop.stopping || !thread.isAlive();
    }

    /**
     * io-wq worker threads of the pump's thread alive now ({@code iou-wrk-<tid>}): the kernel
     * creates them only for ring requests it could not perform inline. With {@link RecordPath#RING}
     * a non-zero count means the ring's reads were punted (slow); with SYSCALLS it stays 0.
     *
     * @return the count, or -1 if {@code /proc/self/task} cannot be read
     */
    public int ioWorkers() {
        String name = "iou-wrk-" + loop.tid;
        int n = 0;
        try (var tasks = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/task"))) {
            for (var t : (Iterable<java.nio.file.Path>) tasks::iterator) {
                try {
                    if (java.nio.file.Files.readString(t.resolve("comm")).trim().equals(name)) n++;
                } catch (java.io.IOException gone) {
                    // the thread exited while we looked
                }
            }
        } catch (java.io.IOException e) {
            return -1;
        }
        return n;
    }

    /**
     * Stops the pump: answers INVALID every group read and not answered, cancels the ring's
     * operations, closes the ring and joins the thread (after a handler running now has returned).
     * From the pump's own thread (a handler) it only marks the pump closed; the thread stops once
     * the handler returns.
     */
    @Override
    public void close() {
        loop.stopping = true;
        boolean self = Thread.currentThread() == thread;
        loop.answers.closeGate(!self); // another thread: wake the pump, which may be waiting on the ring
        if (!self) joinUninterruptibly(thread);
        if (Jfr.PRESENT) FaultPumpStatisticsEvent.unregister(this);
    }

    /**
     * The pump's thread, state, path, queues and counters, for logs.
     *
     * @return e.g. {@code FaultPump[iommufd4j-fault-pump-1, running, SYSCALLS, 1 fault queues, batch 64, faults 10, ...]}
     */
    @Override
    public String toString() {
        Throwable f = loop.failure;
        String state = f != null ? "failed: " + f : isClosed() ? "closed" : "running";
        return "FaultPump[" + thread.getName() + ", " + state + ", " + path + ", " + queues.size() + " fault queues"
                + (eventQueues.isEmpty() ? "" : ", " + eventQueues.size() + " event queues") + ", batch " + batch
                + ", faults " + faults() + ", groups " + groups() + ", outstanding " + outstanding() + "/" + maxOutstanding
                + ", handler errors " + handlerErrors() + ", dropped queues " + droppedQueues()
                + ", system calls " + ringEnters() + " enter + " + reads() + " read + " + writes() + " write]";
    }
}
