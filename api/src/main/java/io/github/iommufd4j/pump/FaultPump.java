package io.github.iommufd4j.pump;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.VirtualEvents;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.uring.CompletionHandler;
import io.github.iommufd4j.uring.IoUring;
import io.github.iommufd4j.uring.IoUringException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Moves I/O page faults from one or more fault queues to a {@link FaultHandler} on one
 * platform thread, in batches, without allocating per fault.
 *
 * <p>How: an io_uring multiplexes readiness (a multishot POLL_ADD per queue fd, armed once, and
 * one on an eventfd that wakes the pump for deferred answers and shutdown); records are moved
 * with direct read(2)/write(2) of whole batches ({@link RecordPath#SYSCALLS}, the default: the
 * faster path on 6.12 and 7.3 at every load we measured, see the README).
 *
 * <p>{@link RecordPath#RING} is the alternative for the records of fault queues: one
 * IORING_OP_READ per queue always in flight instead of the poll, so a batch costs the
 * io_uring_enter that waits for it and the write(2) of its answers, not an extra read(2). Why
 * the C measurement found ring reads slow: the fault fd has only a {@code .read} file operation,
 * and io_uring (loop_rw_iter, 6.12 and 7.3 alike) will not try such a read without blocking
 * unless the file has O_NONBLOCK, so every read went to an io-wq worker. The pump sets
 * O_NONBLOCK on the queues it reads through the ring (the fault fd's read never blocks anyway:
 * it returns 0 when empty) and restores the flags when it closes; the kernel then parks the
 * read on its internal poll and performs it inline once faults arrive. {@link #ioWorkers()}
 * shows whether reads were punted all the same. It is still slower than SYSCALLS: each batch
 * parks a new read on that internal poll, while the multishot poll stays armed.
 *
 * <p>vIOMMU event queues ({@link EventQueue}) are served by the same ring and thread: their fds
 * are kernel record queues with the same read rules, minus the answers.
 *
 * <p>Deferred answers ({@link FaultHandler#DEFERRED}) come back through {@link #respond(long, int)}
 * from any thread, through a preallocated lock-free queue. At most {@code maxOutstanding} groups
 * may wait for an answer; beyond that the pump stops reading until answers arrive (the kernel
 * keeps the faults queued). {@link #close()} cancels the polls, answers every group still
 * waiting with INVALID, closes the ring and joins the thread.
 */
public final class FaultPump implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    private static final long WAKE = -1L, CANCEL = -2L, READ = 1L << 32;
    private static final int NO_RESULT = Integer.MIN_VALUE;

    /** How the records of fault queues move once the ring reported them readable. */
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
    private final FaultHandler handler;
    private final List<EventQueue> eventQueues;
    private final EventHandler eventHandler;
    private final int batch;
    private final int maxOutstanding;
    private final RecordPath path;
    private final IoUring ring;
    private final int wakeFd;
    private final MemorySegment wakeBuf = Arena.ofAuto().allocate(8);
    private final Thread thread;
    private final CountDownLatch started = new CountDownLatch(1);
    private volatile boolean stopping;
    /** Polls armed on the ring, by slot (queues, then the wake eventfd last): each holds its fd's file. */
    private boolean[] armed;
    private volatile Throwable failure;
    private volatile int pumpTid;
    /** The wake eventfd's poll fired since the pump last drained it (pump thread only). */
    private boolean woken;
    /** RING: a buffer per queue (reads of several queues are in flight at once), and which are. */
    private PageFaults[] ringRecords;
    private boolean[] reading;
    /** RING: each queue fd's file status flags before the pump added O_NONBLOCK (-1: unchanged). */
    private final int[] savedFlags;

    // Deferred answers: a bounded MPSC ring of (ticket, code) pairs, sequence-numbered slots.
    private final AtomicLongArray answerTickets, answerSeq;
    private final int[] answerCodes;
    private final AtomicLong answerTail = new AtomicLong();
    private long answerHead;
    private int outstanding;
    /** Per queue, the cookies of deferred groups not answered yet (cookies are small: lowest free). */
    private final java.util.BitSet[] deferred;

    // Statistics (written by the pump thread, read by anyone).
    private final AtomicLong faults = new AtomicLong(), groups = new AtomicLong(), batches = new AtomicLong(),
            handlerErrors = new AtomicLong(), events = new AtomicLong(), lossMarks = new AtomicLong();

    private FaultPump(List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues, EventHandler eventHandler,
                      int batch, int maxOutstanding, RecordPath path) throws IoUringException {
        this.path = path;
        this.queues = List.copyOf(queues);
        this.handler = handler;
        this.eventQueues = List.copyOf(eventQueues);
        this.eventHandler = eventHandler;
        this.batch = batch;
        this.maxOutstanding = maxOutstanding;
        this.ring = IoUring.open(Math.max(8, Integer.highestOneBit((queues.size() * 2 + eventQueues.size()) * 2 + 2) * 2));
        int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0) {
            ring.close();
            throw new IoUringException("eventfd", -efd);
        }
        this.wakeFd = efd;
        savedFlags = new int[queues.size()];
        java.util.Arrays.fill(savedFlags, -1);
        if (path == RecordPath.RING) {
            for (int i = 0; i < queues.size(); i++) {
                int fd = queues.get(i).fd(), flags = Libc.fcntl(fd, Libc.F_GETFL, 0);
                if (flags >= 0 && Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK) == 0) savedFlags[i] = flags;
            }
        }
        int cap = Integer.highestOneBit(Math.max(2, maxOutstanding) * 2 - 1) * 2;
        answerTickets = new AtomicLongArray(cap);
        answerSeq = new AtomicLongArray(cap);
        answerCodes = new int[cap];
        for (int i = 0; i < cap; i++) answerSeq.set(i, i);
        deferred = new java.util.BitSet[queues.size()];
        for (int i = 0; i < deferred.length; i++) deferred[i] = new java.util.BitSet(2 * (batch + maxOutstanding));
        thread = Thread.ofPlatform().name("iommufd4j-fault-pump").daemon().unstarted(this::run);
    }

    /**
     * Starts a pump over {@code queues}.
     *
     * @param batch          records read per read(2) (and responses written per write(2))
     * @param maxOutstanding groups that may wait for a deferred answer at once
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, int batch, int maxOutstanding)
            throws IoUringException {
        return start(queues, handler, List.of(), null, batch, maxOutstanding);
    }

    /**
     * Starts a pump over fault queues and vIOMMU event queues (either list may be empty, not both).
     *
     * @param batch records read per read(2) (and responses written per write(2))
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues,
                                  EventHandler eventHandler, int batch, int maxOutstanding) throws IoUringException {
        return start(queues, handler, eventQueues, eventHandler, batch, maxOutstanding, RecordPath.SYSCALLS);
    }

    /**
     * As {@link #start(List, FaultHandler, List, EventHandler, int, int)}, with the fault records'
     * path. {@link RecordPath#RING} needs the kernel's fds: the software backend's records are
     * taken through its model (whole groups, cookies), so it refuses RING.
     */
    public static FaultPump start(List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues,
                                  EventHandler eventHandler, int batch, int maxOutstanding, RecordPath path)
            throws IoUringException {
        if (path == RecordPath.RING && queues.stream().anyMatch(q -> q.backend() != Backend.NATIVE)) {
            throw new IllegalArgumentException("RecordPath.RING needs fault queues of the kernel's iommufd (native backend)");
        }
        if (queues.isEmpty() && eventQueues.isEmpty()) throw new IllegalArgumentException("no queues");
        if (!queues.isEmpty() && handler == null) throw new IllegalArgumentException("fault queues need a FaultHandler");
        if (!eventQueues.isEmpty() && eventHandler == null) throw new IllegalArgumentException("event queues need an EventHandler");
        FaultPump p = new FaultPump(queues, handler, eventQueues, eventHandler, batch, maxOutstanding, path);
        p.thread.start();
        try {
            p.started.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return p;
    }

    /** A pump over one queue with batches of 64 and up to 1024 deferred groups. */
    public static FaultPump start(FaultQueue queue, FaultHandler handler) throws IoUringException {
        return start(List.of(queue), handler, 64, 1024);
    }

    /** Answers a group the handler deferred; callable from any thread. False if the pump is closed. */
    public boolean respond(long ticket, int code) {
        long seq = answerTail.getAndIncrement();
        int cap = answerSeq.length();
        int slot = (int) (seq & (cap - 1));
        while (answerSeq.get(slot) != seq) { // full: only when more answers than deferred groups
            if (stopping && !thread.isAlive()) return false;
            Thread.onSpinWait();
        }
        answerTickets.set(slot, ticket);
        answerCodes[slot] = code;
        answerSeq.set(slot, seq + 1); // publishes ticket and code
        wake();
        return true;
    }

    private void wake() {
        wakeBuf.set(JAVA_LONG, 0, 1);
        Libc.write(wakeFd, wakeBuf, 8);
    }

    public long faults() { return faults.get(); }
    public long groups() { return groups.get(); }
    public long batches() { return batches.get(); }
    public long handlerErrors() { return handlerErrors.get(); }
    /** vEVENT records handed to the event handler (lost-events headers included). */
    public long events() { return events.get(); }
    /** Places where an event queue overflowed (lost-events headers and sequence gaps). */
    public long lossMarks() { return lossMarks.get(); }

    public RecordPath recordPath() {
        return path;
    }

    /**
     * io-wq worker threads of the pump's thread alive now ({@code iou-wrk-<tid>}): the kernel
     * creates them only for ring requests it could not perform inline. With {@link RecordPath#RING}
     * a non-zero count means the ring's reads were punted (slow); with SYSCALLS it stays 0.
     */
    public int ioWorkers() {
        String name = "iou-wrk-" + pumpTid;
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

    /** The error that stopped the pump, if any. */
    public Throwable failure() {
        return failure;
    }

    // ---- the pump thread ----

    private void run() {
        int faultQueues = queues.size();
        boolean[] readyQueues = new boolean[faultQueues + eventQueues.size()];
        VirtualEvents[] eventBatches = new VirtualEvents[eventQueues.size()];
        for (int i = 0; i < eventBatches.length; i++) eventBatches[i] = eventQueues.get(i).newBatch(batch);
        PageFaults records = new PageFaults(batch);
        PageResponses[] answers = new PageResponses[queues.size()];
        for (int i = 0; i < answers.length; i++) answers[i] = new PageResponses(batch + maxOutstanding);
        armed = new boolean[readyQueues.length + 1];
        ringRecords = new PageFaults[path == RecordPath.RING ? faultQueues : 0];
        for (int i = 0; i < ringRecords.length; i++) ringRecords[i] = new PageFaults(batch);
        reading = new boolean[faultQueues];
        int[] readResult = new int[faultQueues];
        java.util.Arrays.fill(readResult, NO_RESULT);
        CompletionHandler onCompletion = (userData, res, flags) -> {
            if (userData >= READ) {
                int qi = (int) (userData - READ);
                reading[qi] = false;
                readResult[qi] = res;
            } else if (userData == WAKE) {
                woken = true;
                armed[readyQueues.length] = IoUring.hasMore(flags);
                if (!IoUring.hasMore(flags)) rearm(WAKE);
            } else if (userData >= 0) {
                readyQueues[(int) userData] = true;
                armed[(int) userData] = IoUring.hasMore(flags);
                if (!IoUring.hasMore(flags) && !stopping) rearm(userData);
            }
        };
        try {
            pumpTid = Libc.gettid();
            for (int i = 0; i < readyQueues.length; i++) {
                if (i < faultQueues && path == RecordPath.RING) read(i, reading);
                else rearm(i);
            }
            rearm(WAKE);
            ring.submit();
            started.countDown();
            while (!stopping) {
                ring.submitAndWait(1);
                ring.processCompletions(onCompletion);
                if (woken) { // only then: an empty eventfd would cost a read(2) per batch for nothing
                    woken = false;
                    drainWake();
                }
                takeAnswers(answers);
                for (int i = faultQueues; i < readyQueues.length; i++) {
                    if (readyQueues[i]) readyQueues[i] = drainEvents(i - faultQueues, eventBatches[i - faultQueues]);
                }
                for (int i = 0; i < faultQueues; i++) {
                    if (path == RecordPath.RING) {
                        int res = readResult[i];
                        readResult[i] = NO_RESULT;
                        if (res < 0 && res != NO_RESULT) {
                            throw new IommufdException("io_uring read(fault fd)", "fault=" + queues.get(i).id(), -res);
                        }
                        if (res > 0) handleRingRead(i, ringRecords[i], res, answers[i]);
                        // The next read: at once, or once deferred answers brought the count below the cap.
                        if (!reading[i] && outstanding < maxOutstanding) read(i, reading);
                    } else if (readyQueues[i] && outstanding < maxOutstanding) {
                        readyQueues[i] = drain(i, records, answers[i]);
                    }
                    flush(i, answers[i]);
                }
                // A queue left ready (outstanding cap) is read again once answers came back.
            }
        } catch (Throwable t) {
            failure = t;
            LOG.log(System.Logger.Level.ERROR, "fault pump stopped", t);
        } finally {
            started.countDown();
            shutdown(answers);
        }
    }

    private void rearm(long userData) {
        try {
            ring.pollAddMultishot(userData == WAKE ? wakeFd : fdOf((int) userData), Libc.POLLIN, userData);
            armed[userData == WAKE ? armed.length - 1 : (int) userData] = true;
        } catch (IoUringException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Poll slot i: fault queues first, then event queues. */
    private int fdOf(int i) {
        return i < queues.size() ? queues.get(i).fd() : eventQueues.get(i - queues.size()).fd();
    }

    /** Reads event queue ei until it is empty, a batch per handler call; false once empty. */
    private boolean drainEvents(int ei, VirtualEvents batchView) throws IommufdException {
        EventQueue q = eventQueues.get(ei);
        for (;;) {
            int n = q.read(batchView);
            if (n == 0) return false;
            int lost = 0;
            for (int i = 0; i < n; i++) if (batchView.lossBefore(i)) lost++;
            try {
                eventHandler.onEvents(q, batchView);
            } catch (Throwable t) {
                handlerErrors.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, "event handler failed on " + q, t);
            }
            events.addAndGet(n);
            lossMarks.addAndGet(lost);
            batches.incrementAndGet();
        }
    }

    /** Reads and handles whole batches from queue i until it is empty; true if it may still have faults. */
    private boolean drain(int qi, PageFaults records, PageResponses answers) throws IommufdException {
        FaultQueue q = queues.get(qi);
        while (outstanding < maxOutstanding) {
            int n = q.read(records);
            if (n == 0) return false;
            handleRecords(qi, q, records, n, answers);
        }
        return true;
    }

    /** RING: queues the read of queue qi's next batch. */
    private void read(int qi, boolean[] reading) throws IoUringException {
        ring.read(queues.get(qi).fd(), ringRecords[qi].buffer(), 0, READ + qi);
        reading[qi] = true;
    }

    /** Handles the records a ring read brought. */
    private void handleRingRead(int qi, PageFaults records, int bytes, PageResponses answers) throws IommufdException {
        int n = bytes / PageFaults.RECORD;
        if (n == 0) return;
        records.setCount(n);
        handleRecords(qi, queues.get(qi), records, n, answers);
    }

    /** One batch: the handler per group, the answers written, the statistics. */
    private void handleRecords(int qi, FaultQueue q, PageFaults records, int n, PageResponses answers) throws IommufdException {
        // JFR event only while a recording wants it: no object per batch otherwise.
        FaultBatchEvent event = FaultBatchEvent.enabled() ? new FaultBatchEvent() : null;
        if (event != null) event.begin();
        int g = handleBatch(qi, q, records, n, answers);
        flush(qi, answers);
        faults.addAndGet(n);
        groups.addAndGet(g);
        batches.incrementAndGet();
        if (event != null && event.shouldCommit()) {
            event.queue = q.id();
            event.records = n;
            event.groups = g;
            event.commit();
        }
    }

    private int handleBatch(int qi, FaultQueue q, PageFaults records, int n, PageResponses answers) {
        int groupCount = 0;
        int first = 0;
        for (int i = 0; i < n; i++) {
            if (!records.lastPage(i) && i < n - 1) continue;
            int cookie = records.cookie(i);
            long ticket = ((long) qi << 32) | (cookie & 0xffffffffL);
            int code;
            try {
                code = handler.onGroup(q, records, first, i - first + 1, ticket);
            } catch (Throwable t) {
                handlerErrors.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, "fault handler failed; group answered INVALID: " + records.toString(i), t);
                code = PageResponses.INVALID;
            }
            if (code == FaultHandler.DEFERRED) {
                outstanding++;
                deferred[qi].set(cookie);
            } else {
                answers.add(cookie, code);
            }
            groupCount++;
            first = i + 1;
        }
        return groupCount;
    }

    private void takeAnswers(PageResponses[] answers) {
        int cap = answerSeq.length();
        for (;;) {
            int slot = (int) (answerHead & (cap - 1));
            if (answerSeq.get(slot) != answerHead + 1) return;
            long ticket = answerTickets.get(slot);
            int code = answerCodes[slot];
            answerSeq.set(slot, answerHead + cap); // frees the slot for the producer a lap later
            answerHead++;
            int qi = (int) (ticket >>> 32), cookie = (int) ticket;
            if (!deferred[qi].get(cookie)) continue; // not deferred, or answered twice: drop it
            deferred[qi].clear(cookie);
            outstanding--;
            answers[qi].add(cookie, code);
        }
    }

    private void flush(int qi, PageResponses answers) throws IommufdException {
        while (answers.count() > 0) {
            queues.get(qi).respond(answers);
        }
    }

    private void drainWake() {
        Libc.read(wakeFd, wakeBuf, 8);
    }

    private void shutdown(PageResponses[] answers) {
        try {
            // Answers that arrived, then INVALID for the groups still waiting: no device stays stuck.
            takeAnswers(answers);
            for (int i = 0; i < answers.length; i++) {
                for (int c = deferred[i].nextSetBit(0); c >= 0; c = deferred[i].nextSetBit(c + 1)) {
                    if (!answers[i].add(c, PageResponses.INVALID)) break;
                }
                deferred[i].clear();
                try {
                    flush(i, answers[i]);
                } catch (IommufdException e) {
                    LOG.log(System.Logger.Level.WARNING, "answering at shutdown failed", e);
                }
            }
        } finally {
            cancelPolls();
            ring.close();
            Libc.close(wakeFd);
            for (int i = 0; i < savedFlags.length; i++) {
                // Not on a queue closed meanwhile: its fd number may belong to another file by now.
                if (savedFlags[i] >= 0 && !queues.get(i).isClosed()) Libc.fcntl(queues.get(i).fd(), Libc.F_SETFL, savedFlags[i]);
            }
        }
    }

    /**
     * Cancels the armed polls (and RING reads) and reaps their last completions before the ring closes: a poll
     * holds its fd's file until it completes, and the ring's own teardown runs later in the
     * kernel, so without this a queue destroyed right after {@link #close()} could still be
     * referenced (DESTROY fails with EBUSY).
     */
    private void cancelPolls() {
        if (armed == null) return;
        try {
            for (int i = 0; i < armed.length; i++) {
                if (armed[i]) ring.cancel(i == armed.length - 1 ? WAKE : i, CANCEL);
            }
            for (int i = 0; reading != null && i < reading.length; i++) {
                if (reading[i]) ring.cancel(READ + i, CANCEL);
            }
            long deadline = System.nanoTime() + 2_000_000_000L;
            CompletionHandler reap = (userData, res, flags) -> {
                if (userData >= READ) {
                    reading[(int) (userData - READ)] = false;
                    answerInvalid((int) (userData - READ), res);
                    return;
                }
                if (userData == CANCEL || IoUring.hasMore(flags)) return;
                armed[userData == WAKE ? armed.length - 1 : (int) userData] = false;
            };
            while ((anyArmed() || anyReading()) && System.nanoTime() < deadline) {
                ring.submitAndWait(1, 100_000_000L);
                ring.processCompletions(reap);
            }
        } catch (IoUringException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cancelling the pump's polls failed; closing the ring", e);
        }
    }

    /** A ring read that completed during shutdown: its groups were taken from the kernel, so answer them. */
    private void answerInvalid(int qi, int bytes) {
        PageFaults records = ringRecords[qi];
        int n = Math.max(0, bytes) / PageFaults.RECORD;
        if (n == 0) return;
        records.setCount(n);
        PageResponses answers = new PageResponses(n);
        for (int i = 0; i < n; i++) {
            if (records.lastPage(i) || i == n - 1) answers.add(records.cookie(i), PageResponses.INVALID);
        }
        try {
            flush(qi, answers);
        } catch (IommufdException e) {
            LOG.log(System.Logger.Level.WARNING, "answering at shutdown failed", e);
        }
    }

    private boolean anyReading() {
        if (reading == null) return false;
        for (boolean r : reading) if (r) return true;
        return false;
    }

    private boolean anyArmed() {
        for (boolean a : armed) if (a) return true;
        return false;
    }

    /** Stops the pump: cancels the polls, answers waiting groups INVALID, closes the ring, joins the thread. */
    @Override
    public void close() {
        if (stopping) {
            joinQuietly();
            return;
        }
        stopping = true;
        wake();
        joinQuietly();
    }

    private void joinQuietly() {
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
