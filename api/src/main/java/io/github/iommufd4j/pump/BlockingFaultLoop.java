package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;

/**
 * The plain alternative to {@link FaultPump}: one queue, the calling thread, poll(2) then
 * read(2) of a whole batch, the handler, one write(2) of the batch's answers (the kernel
 * selftest's way). Also the baseline the benchmarks compare the pump with. Synchronous
 * handlers only ({@link FaultHandler#DEFERRED} is treated as INVALID).
 */
public final class BlockingFaultLoop {
    private static final int THREW = Integer.MIN_VALUE; // not a response code: counted as a handler error
    private final FaultQueue queue;
    private final FaultHandler handler;
    private final PageFaults records;
    private final PageResponses answers;
    private long faults, handlerErrors;

    /**
     * A loop over one queue; nothing runs until {@link #run}.
     *
     * @param queue   the fault queue
     * @param handler answers each group (DEFERRED is answered INVALID)
     * @param batch   records read per read(2), 1..{@value FaultPump#MAX_BATCH}
     * @throws IllegalArgumentException for a null queue or handler or a batch outside that range
     */
    public BlockingFaultLoop(FaultQueue queue, FaultHandler handler, int batch) {
        if (queue == null || handler == null) throw new IllegalArgumentException("queue and handler are required");
        if (batch < 1 || batch > FaultPump.MAX_BATCH) {
            throw new IllegalArgumentException("batch must be 1.." + FaultPump.MAX_BATCH + " records: " + batch);
        }
        this.queue = queue;
        this.handler = handler;
        this.records = new PageFaults(batch);
        this.answers = new PageResponses(batch);
    }

    /**
     * Handles faults on the calling thread until {@code count} have been handled or none arrived for
     * {@code idleMillis}.
     *
     * @param count      the most faults to handle
     * @param idleMillis how long to wait for the next fault, in milliseconds (-1: forever)
     * @return the number of faults handled by this call
     * @throws IommufdException the queue's read or write failed, e.g. EBADF "handle is closed" when
     *         it is closed by another thread
     */
    public long run(long count, int idleMillis) throws IommufdException {
        long done = 0;
        while (done < count) {
            int n = queue.readBlocking(records, idleMillis);
            if (n == 0) break;
            int first = 0;
            for (int i = 0; i < n; i++) {
                if (!records.lastPage(i) && i < n - 1) continue;
                int code;
                try {
                    code = handler.onGroup(queue, records, first, i - first + 1, records.cookie(i) & 0xffffffffL);
                } catch (Exception e) {
                    code = THREW;
                }
                if (code != PageResponses.SUCCESS && code != PageResponses.INVALID && code != FaultHandler.DEFERRED) {
                    handlerErrors++; // threw, or a code the kernel would refuse
                    code = PageResponses.INVALID;
                }
                answers.add(records.cookie(i), code == FaultHandler.DEFERRED ? PageResponses.INVALID : code);
                first = i + 1;
            }
            while (answers.count() > 0) queue.respond(answers);
            done += n;
        }
        faults += done;
        return done;
    }

    /**
     * Faults handled so far, over every {@link #run} call.
     *
     * @return the count
     */
    public long faults() {
        return faults;
    }

    /**
     * Handler calls that threw or returned a code other than SUCCESS, INVALID or DEFERRED (their
     * groups were answered INVALID).
     *
     * @return the count
     */
    public long handlerErrors() {
        return handlerErrors;
    }
}
