package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;

/**
 * A fault queue under the pump: the records read and not yet handed to the handler, and the
 * answers not yet written. How records arrive is the record path: {@link SyscallFaultSource}
 * (readiness from the ring, read(2)) or {@link RingFaultSource} (a ring read in flight).
 */
abstract sealed class FaultSource extends Source permits SyscallFaultSource, RingFaultSource {
    /** The largest page request group the pump reads: a read buffer grows up to this many records. */
    static final int MAX_GROUP = 1 << 16;
    private static final System.Logger LOG = System.getLogger(FaultPump.class.getName());
    private static final int EINVAL = 22;

    final FaultQueue queue;
    PageFaults records;
    /** The next record of {@link #records} to hand to the handler. */
    int next;
    final PageResponses answers;

    /** @param answers answers written per write(2) at most: a batch's and the deferred ones that came back */
    FaultSource(PumpLoop loop, int index, FaultQueue queue, int batch, int answers) throws IommufdException {
        super(loop, index, PumpLoop.FAULT, queue, queue.fd(), queue.toString());
        this.queue = queue;
        this.records = new PageFaults(batch);
        this.answers = new PageResponses(answers);
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
            long ticket = tickets.reserve(index, cookie);
            int code = loop.onGroup(queue, batch, first, last - first + 1, ticket);
            if (tickets.handled(ticket, code == FaultHandler.DEFERRED)) answer(cookie, code);
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
        if (failure() == null) answers.add(cookie, code);
    }

    /**
     * Writes the queued answers. An answer the kernel refuses (EINVAL: its group was answered
     * already, e.g. INVALID when its device was detached, docs/kernel-behaviour.md §5.4, §5.5) is
     * counted and skipped; any other error drops the queue.
     */
    final void flush() {
        while (answers.count() > 0 && failure() == null) {
            try {
                if (queue.respond(answers) == 0) drop(new IllegalStateException("write(fault fd) took no answer: " + describe()));
            } catch (IommufdException e) {
                if (e.errno() != EINVAL) {
                    drop(e);
                } else {
                    answers.removeFirst(1);
                    loop.refusedAnswers.incrementAndGet();
                }
            } catch (RuntimeException e) {
                drop(e);
            }
        }
        if (failure() != null) answers.clear();
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
        int from = next;
        next = records.count();
        answerUnhandled(records, from, next);
        if (failure() != null) loop.answers.dropQueue(index); // later answers for its groups are refused
        super.retire();
    }

    @Override
    public String toString() {
        return describe();
    }
}
