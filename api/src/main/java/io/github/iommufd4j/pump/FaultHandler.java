package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.PageFaults;

/**
 * Handles one page request group for a {@link FaultPump} (or a {@link BlockingFaultLoop}): the
 * VMM makes the faulting pages present (e.g. populates guest memory, or forwards the fault to the
 * guest's vIOMMU) and answers. Runs on the pump's thread; while it runs, no other group of the
 * pump is handled, so a slow resolution should be deferred to another thread.
 */
@FunctionalInterface
public interface FaultHandler {
    /** Returned by {@link #onGroup} to answer later with {@link FaultPump#respond(long, int)}. */
    int DEFERRED = -1;

    /**
     * Handles records {@code first .. first+count-1} of {@code faults}, one page request group (the
     * last record has LAST_PAGE set). The records are valid only during the call: copy what a
     * deferred answer needs.
     *
     * @param queue  the queue the group came from
     * @param faults the batch holding the group
     * @param first  the index of the group's first record
     * @param count  the group's record count, at least 1
     * @param ticket identifies the group for a deferred answer ({@link FaultPump#respond}); unique
     *               over the pump's life
     * @return the response code ({@code PageResponses.SUCCESS} or {@code INVALID}), or
     *         {@link #DEFERRED} to answer later from any thread. Any other value counts as a handler
     *         error and answers the group INVALID.
     * @throws Exception anything: counted as a handler error, the group answered INVALID, the pump
     *         goes on
     */
    int onGroup(FaultQueue queue, PageFaults faults, int first, int count, long ticket) throws Exception;
}
