package io.github.iommufd4j.pump;

import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.VirtualEvents;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.uring.CompletionHandler;
import io.github.iommufd4j.internal.uring.IoUring;
import io.github.iommufd4j.internal.uring.IoUringException;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The pump's thread: waits on the ring, takes the deferred answers, serves each queue, and at the
 * end answers what is left and lets go of everything. Every queue's failure is its own (the queue
 * is dropped, {@link Source#drop}); only a failure of the ring itself stops the loop.
 */
final class PumpLoop implements Runnable, CompletionHandler, AnswerQueue.Sink {
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    /** user_data: the kind in the upper half, the source index in the lower. */
    static final long FAULT = 1L << 32, EVENT = 2L << 32, WAKE = 3L << 32, CANCEL = 4L << 32, WRITE = 5L << 32;
    private static final long KIND = ~0xffff_ffffL;
    private static final int EBADF = 9;

    final String name;
    final FaultHandler handler;
    final EventHandler eventHandler;
    /** Opened by the pump's thread, which alone uses and closes it (null until then). */
    IoUring ring;
    /** The ring's size (tests set an impossible one to make the setup fail on the pump's thread). */
    int ringEntries;
    final AnswerQueue answers;
    final FaultSource[] faultSources;
    final EventSource[] eventSources;
    final CountDownLatch started = new CountDownLatch(1);
    /** The pump's thread, started by {@link FaultPump#launch}. */
    final Thread thread;
    volatile boolean stopping;
    /** Why the pump could not start (then start() throws it), or why it stopped. */
    volatile Throwable setupFailure, failure;
    volatile int tid;
    /** The wake eventfd's poll is armed / fired since the last drain (pump thread only). */
    boolean wakeArmed, woken;
    /** Ring writes of answers submitted or queued and not completed (pump thread only). */
    int writesInFlight;
    /** The loop's turns so far; a turn starts after the ring's enter (pump thread only). */
    long turn;
    /** Answers wait for the next enter: it submits without waiting (pump thread only). */
    boolean noWait;

    final AtomicLong faults = new AtomicLong(), groups = new AtomicLong(), batches = new AtomicLong(),
            handlerErrors = new AtomicLong(), events = new AtomicLong(), lossMarks = new AtomicLong(),
            droppedQueues = new AtomicLong(), refusedAnswers = new AtomicLong();
    /** The pump thread's read(2) and write(2) calls (its io_uring_enter calls: {@link IoUring#enters()}). */
    final AtomicLong reads = new AtomicLong(), writes = new AtomicLong();

    /**
     * Opens the answer queue and a source per queue; on failure closes what it opened. The ring is
     * opened by the pump's thread ({@link #run}): its memory is confined to that thread.
     */
    PumpLoop(String name, List<FaultQueue> queues, FaultHandler handler, List<EventQueue> eventQueues,
             EventHandler eventHandler, int batch, int maxOutstanding, FaultPump.RecordPath path) throws IommufdException {
        this.name = name;
        this.thread = Thread.ofPlatform().name(name).daemon().unstarted(this);
        this.handler = handler;
        this.eventHandler = eventHandler;
        this.faultSources = new FaultSource[queues.size()];
        this.eventSources = new EventSource[eventQueues.size()];
        // Room for a poll or read per queue, its cancel, and the wake poll; a fuller SQ is submitted on the way.
        this.ringEntries = Math.clamp(Integer.highestOneBit(2 * (queues.size() + eventQueues.size()) + 2) * 2, 8, 4096);
        this.answers = new AnswerQueue(maxOutstanding);
        try {
            int answersPerWrite = Math.min(batch + maxOutstanding, 8192);
            for (int i = 0; i < faultSources.length; i++) {
                faultSources[i] = path == FaultPump.RecordPath.RING
                        ? new RingFaultSource(this, i, queues.get(i), batch, answersPerWrite)
                        : new SyscallFaultSource(this, i, queues.get(i), batch, answersPerWrite);
            }
            for (int i = 0; i < eventSources.length; i++) eventSources[i] = new EventSource(this, i, eventQueues.get(i), batch);
        } catch (IommufdException | RuntimeException | Error e) {
            release();
            throw e;
        }
    }

    @Override
    public void run() {
        try {
            tid = Libc.gettid();
            ring = IoUring.open(ringEntries);
            for (FaultSource s : faultSources) s.arm();
            for (EventSource s : eventSources) s.arm();
            armWake();
            ring.submit();
        } catch (Throwable t) {
            setupFailure = t;
        } finally {
            started.countDown();
        }
        try {
            if (setupFailure == null) loop();
        } catch (Throwable t) {
            failure = t;
            LOG.log(System.Logger.Level.ERROR, "fault pump " + name + " stopped", t);
        } finally {
            shutdown();
        }
    }

    private void loop() throws IoUringException {
        while (!stopping) {
            // The ring writes queued in the last turn complete inline in this enter: wait for one completion more.
            ring.submitAndWait(noWait ? 0 : 1 + writesInFlight);
            noWait = false;
            turn++;
            ring.processCompletions(this);
            if (woken) { // only then: an empty eventfd would cost a read(2) per turn for nothing
                woken = false;
                reads.incrementAndGet();
                answers.drainWake();
            }
            answers.take(this);
            for (EventSource s : eventSources) serve(s);
            for (FaultSource s : faultSources) serve(s);
            if (!wakeArmed && !stopping) armWake();
        }
    }

    /** One turn for one queue: a closed queue or any error of its own drops it; a ring failure stops the pump. */
    private void serve(Source s) throws IoUringException {
        if (s.retired) return;
        if (s.queueClosed()) {
            s.drop(new IommufdException("fault pump", s.describe(), EBADF));
            return;
        }
        try {
            s.serve();
        } catch (IoUringException e) {
            throw e;
        } catch (IommufdException | RuntimeException e) {
            s.drop(e);
        }
    }

    private void armWake() throws IoUringException {
        ring.pollAddMultishot(answers.wakeFd(), Libc.POLLIN, WAKE);
        wakeArmed = true;
    }

    /** Completions from the ring. */
    @Override
    public void complete(long userData, int res, int flags) {
        long kind = userData & KIND;
        int i = (int) userData;
        if (kind == FAULT || kind == EVENT) {
            Source s = kind == FAULT ? faultSources[i] : eventSources[i];
            s.completed(res, flags);
            if (s.retired && !s.holdsFile()) s.letGo(); // its last operation: the queue may be destroyed now
        } else if (kind == WRITE) {
            FaultSource s = faultSources[i];
            s.writeCompleted(res);
            if (s.retired && !s.holdsFile()) s.letGo();
        } else if (kind == WAKE) {
            woken = true;
            if (!IoUring.hasMore(flags)) wakeArmed = false;
        } // CANCEL: the cancel request's own completion
    }

    /** Deferred answers taken from the answer queue. */
    @Override
    public void answer(int queue, int cookie, int code) {
        FaultSource s = faultSources[queue];
        if (s.failure() == null) s.answer(cookie, code);
    }

    /** The handler for one group: a throw or a code other than SUCCESS, INVALID or DEFERRED answers INVALID. */
    int onGroup(FaultQueue q, PageFaults records, int first, int count, long ticket) {
        int code;
        try {
            code = handler.onGroup(q, records, first, count, ticket);
        } catch (Throwable t) {
            handlerErrors.incrementAndGet();
            LOG.log(System.Logger.Level.WARNING, "fault handler failed; group answered INVALID: " + records.toString(first + count - 1), t);
            return PageResponses.INVALID;
        }
        if (code == PageResponses.SUCCESS || code == PageResponses.INVALID || code == FaultHandler.DEFERRED) return code;
        handlerErrors.incrementAndGet();
        LOG.log(System.Logger.Level.WARNING, "fault handler returned " + code + ", not SUCCESS, INVALID or DEFERRED;"
                + " group answered INVALID: " + records.toString(first + count - 1));
        return PageResponses.INVALID;
    }

    void onEvents(EventQueue q, VirtualEvents batch) {
        try {
            eventHandler.onEvents(q, batch);
        } catch (Throwable t) {
            handlerErrors.incrementAndGet();
            LOG.log(System.Logger.Level.WARNING, "event handler failed on " + q, t);
        }
    }

    /**
     * Answers every group taken from the kernel and not answered (INVALID), so that no device
     * stays stuck; cancels and reaps the ring's operations before closing it (an operation holds
     * its queue's file, and a queue destroyed right after close() would otherwise be busy); lets
     * go of the fds.
     */
    private void shutdown() {
        stopping = true;
        try {
            answers.closeGate(false); // respond() returns false from now on
            for (Source s : faultSources) if (!s.retired && s.queueClosed()) s.drop(new IommufdException("fault pump", s.describe(), EBADF));
            answers.answerAllInvalid(this);
            for (FaultSource s : faultSources) {
                s.flush();
                s.retire(); // also answers what was read and not handled
            }
            for (EventSource s : eventSources) s.retire();
            if (wakeArmed) ring.cancel(WAKE, CANCEL);
            long deadline = System.nanoTime() + 2_000_000_000L;
            while (ring != null && (wakeArmed || anyBusy()) && System.nanoTime() < deadline) {
                ring.submitAndWait(1, 100_000_000L);
                ring.processCompletions(this);
            }
        } catch (IoUringException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "fault pump " + name + ": cancelling the ring's operations failed; closing the ring", e);
        } finally {
            release();
        }
    }

    private boolean anyBusy() {
        for (FaultSource s : faultSources) if (s.busy || s.writeInFlight()) return true;
        for (Source s : eventSources) if (s.busy) return true;
        return false;
    }

    /**
     * Closes the ring (on the pump's thread: no other thread ever has one to close), the answer
     * queue's eventfd and our fds of the queues, and ends our holds on them (idempotent).
     */
    void release() {
        try {
            if (ring != null) ring.close();
        } finally {
            answers.release();
            for (Source s : faultSources) if (s != null) s.letGo();
            for (Source s : eventSources) if (s != null) s.letGo();
        }
    }
}
