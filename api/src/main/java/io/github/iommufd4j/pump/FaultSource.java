package io.github.iommufd4j.pump;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.uring.IoUringException;

/**
 * A fault queue under the pump: the records read and not yet handed to the handler, and the
 * answers not yet written. How records arrive is the record path: {@link SyscallFaultSource}
 * (readiness from the ring, read(2)) or {@link RingFaultSource} (a ring read in flight).
 *
 * <p>On the kernel's queues the answers go out as an IORING_OP_WRITE queued for the ring's next
 * io_uring_enter, the one that also waits for the next readiness, so answering costs no system
 * call of its own. The fault fd has only a {@code .write} file operation, which io_uring performs
 * inline only when the file has O_NONBLOCK (otherwise an io-wq worker does it,
 * docs/kernel-behaviour.md §5.3); the fault fd never blocks anyway, so the pump sets O_NONBLOCK
 * while it serves the queue, and the last pump to let go restores the flags
 * ({@link NonBlockingFiles}). Two answer buffers take turns: one in flight, one filling; answers that cannot wait for the ring (a write still in
 * flight, the pump stopping, the ring failing) go out with write(2).
 */
abstract sealed class FaultSource extends Source permits SyscallFaultSource, RingFaultSource {
    /** The largest page request group the pump reads: a read buffer grows up to this many records. */
    static final int MAX_GROUP = 1 << 16;
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    private static final int EINTR = 4, EAGAIN = 11, EINVAL = 22, ECANCELED = 125;

    final FaultQueue queue;
    PageFaults records;
    /** The next record of {@link #records} to hand to the handler. */
    int next;
    /** The answers not written yet. */
    PageResponses answers;
    /** Answers are written by the ring (the kernel's queues, once O_NONBLOCK is set), else by write(2). */
    private final boolean ringWrites;
    /** The answers of the ring write in flight (null if none), and the other buffer while none is. */
    private PageResponses writing, spare;
    /** The loop's turn in which the ring write in flight was queued (submitted by the enter after it). */
    private long writeTurn;
    /** Set while the source lets go: answers are written with write(2) (its fd is about to close). */
    private boolean retiring;
    /** This pump counts among those that keep O_NONBLOCK on the queue's file ({@link NonBlockingFiles}). */
    private boolean nonBlocking;

    /** @param answers answers written per write(2) at most: a batch's and the deferred ones that came back */
    FaultSource(PumpLoop loop, int index, FaultQueue queue, int batch, int answers) throws IommufdException {
        super(loop, index, PumpLoop.FAULT, queue, queue.fd(), queue.toString());
        this.queue = queue;
        this.records = new PageFaults(batch);
        this.answers = new PageResponses(answers);
        this.nonBlocking = queue.backend() == Backend.NATIVE && NonBlockingFiles.acquire(queue, fd);
        this.ringWrites = nonBlocking;
        this.spare = ringWrites ? new PageResponses(answers) : null;
    }

    /** Whether the fd has O_NONBLOCK from the pump (the kernel's queues). */
    final boolean nonBlocking() {
        return nonBlocking;
    }

    @Override
    final boolean queueClosed() {
        return queue.isClosed();
    }

    @Override
    final String describe() {
        return queue.toString();
    }

    /**
     * Hands the groups read and not handled yet to the handler, while a slot for a deferred
     * answer is free and the pump runs. Returns the groups handled.
     */
    final int handleRead() {
        PageFaults batch = records;
        int n = batch.count(), faults = 0, groups = 0;
        AnswerQueue tickets = loop.answers;
        while (next < n && tickets.hasFreeSlot() && !loop.stopping && !retired) {
            int first = next, last = first;
            while (last < n - 1 && !batch.lastPage(last)) last++; // a read ends with a whole group
            next = last + 1;
            int cookie = batch.cookie(last);
            long ticket = tickets.reserve();
            int code = loop.onGroup(queue, batch, first, last - first + 1, ticket);
            if (tickets.handled(ticket, code == FaultHandler.DEFERRED, index, cookie)) answer(cookie, code);
            groups++;
            faults += last - first + 1;
        }
        if (groups > 0) {
            loop.faults.addAndGet(faults);
            loop.groups.addAndGet(groups);
        }
        return groups;
    }

    /** A new batch of {@code n} records in {@link #records}. */
    final void read(int n) {
        next = 0;
        if (n > 0) loop.batches.incrementAndGet();
    }

    /**
     * The first group waiting is larger than the read buffer (the kernel's read said EINVAL and
     * kept the group, docs/kernel-behaviour.md §5.3): doubles the buffer, up to
     * {@link #MAX_GROUP} records. False if it is that large already.
     */
    final boolean grow() {
        if (records.capacity() >= MAX_GROUP) return false;
        growBuffer();
        return true;
    }

    /** The error of a group larger than {@link #MAX_GROUP} records: the queue is dropped. */
    final IommufdException groupTooLarge() {
        return new IommufdException("read(fault fd)", describe() + ", a page request group larger than " + MAX_GROUP
                + " records", EINVAL);
    }

    private void growBuffer() {
        int capacity = records.capacity();
        records = new PageFaults(Math.min(MAX_GROUP, capacity * 2));
        LOG.log(System.Logger.Level.DEBUG, () -> describe() + ": a page request group larger than " + capacity
                + " records; read buffer grown to " + records.capacity());
    }

    /** Queues an answer, writing the queued ones first when full. */
    final void answer(int cookie, int code) {
        if (answers.add(cookie, code)) return;
        flush();
        if (failure() == null && !answers.add(cookie, code)) { // still full: the ring write of this turn holds the other buffer
            writeNow(answers);
            if (failure() == null) answers.add(cookie, code);
        }
    }

    /**
     * Writes the queued answers: queues a ring write when none is in flight (see the class
     * comment). While the ring write queued in this turn waits for the next enter, the answers
     * wait too, and that enter does not block ({@link PumpLoop#noWait}). Otherwise (a ring write
     * an io-wq worker still runs, the pump stopping, the ring failing, the software backend)
     * they are written now.
     */
    final void flush() {
        if (answers.count() == 0) return;
        if (ringWrites && failure() == null && !retiring && !loop.stopping) {
            if (writing == null) {
                try {
                    loop.ring.write(fd, answers.buffer(), (long) answers.count() * PageResponses.RECORD, 0, PumpLoop.WRITE | index);
                    loop.writesInFlight++;
                    writeTurn = loop.turn;
                    writing = answers;
                    answers = spare;
                    spare = null;
                    return;
                } catch (IoUringException | RuntimeException e) {
                    // The ring failed (the loop stops at its next wait): these answers go out with write(2).
                }
            } else if (writeTurn == loop.turn) {
                loop.noWait = true;
                return;
            }
        }
        writeNow(answers);
    }

    /**
     * Whether the next batch may be read: once the answers read so far are written, or queued as
     * a ring write (flushing first). False while they must wait for the ring's next enter, which
     * then comes at once: a batch's answers go out before, or with the enter after, the next
     * batch is read.
     */
    final boolean roomForBatch() {
        if (answers.count() == 0) return true;
        flush();
        return answers.count() == 0;
    }

    /**
     * The ring write completed with {@code res} (bytes or -errno). What the kernel did not take
     * goes out with write(2), by the same rules as {@link #writeNow}; another error drops the queue.
     */
    final void writeCompleted(int res) {
        PageResponses w = writing;
        writing = null;
        loop.writesInFlight--;
        if (w == null) return;
        if (res >= 0) {
            w.removeFirst(Math.min(res / PageResponses.RECORD, w.count())); // short: the kernel stopped at an answer it refused
        } else if (res == -EINVAL) {
            w.removeFirst(1); // its group was answered already (see writeNow)
            loop.refusedAnswers.incrementAndGet();
        } else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED) {
            drop(new IommufdException("io_uring write(fault fd)", describe(), -res));
        }
        writeNow(w);
        w.clear();
        spare = w;
    }

    /** A ring write is in flight: its buffer must stay until it completes. */
    final boolean writeInFlight() {
        return writing != null;
    }

    @Override
    boolean holdsFile() {
        return busy || writing != null;
    }

    /**
     * Writes {@code batch} with write(2). An answer the kernel refuses (EINVAL: its group was
     * answered already, e.g. INVALID when its device was detached, docs/kernel-behaviour.md §5.4,
     * §5.5) is counted and skipped; any other error drops the queue.
     */
    private void writeNow(PageResponses batch) {
        while (batch.count() > 0 && failure() == null) {
            try {
                loop.writes.incrementAndGet();
                if (queue.respond(batch) == 0) drop(new IllegalStateException("write(fault fd) took no answer: " + describe()));
            } catch (IommufdException e) {
                if (e.errno() != EINVAL) {
                    drop(e);
                } else {
                    batch.removeFirst(1);
                    loop.refusedAnswers.incrementAndGet();
                }
            } catch (RuntimeException e) {
                drop(e);
            }
        }
        if (failure() != null) batch.clear();
    }

    /** Answers INVALID the groups of {@code n} records read but never handed to the handler. */
    final void answerUnhandled(PageFaults batch, int from, int n) {
        for (int i = from; i < n; i++) {
            if (batch.lastPage(i) || i == n - 1) answer(batch.cookie(i), PageResponses.INVALID);
        }
        flush();
    }

    /** Stops serving: the groups read and not handled are answered INVALID. */
    @Override
    void retire() {
        if (retired) return;
        retiring = true;
        int from = next;
        next = records.count();
        answerUnhandled(records, from, next);
        if (failure() != null) loop.answers.dropQueue(index); // later answers for its groups are refused
        super.retire();
    }

    /** Restores the fd's flags; a ring write queued and not submitted yet is submitted first (it names our fd). */
    @Override
    void release() {
        if (writing != null && fd >= 0 && loop.ring != null && !loop.ring.isClosed()) {
            try {
                loop.ring.submit();
            } catch (IoUringException | RuntimeException e) {
                // The ring failed: its operations end with it.
            }
        }
        if (nonBlocking && fd >= 0) NonBlockingFiles.release(queue, fd);
        nonBlocking = false;
        super.release();
    }

    @Override
    public String toString() {
        return describe();
    }
}
