package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.PageFaults;

/**
 * Handles one page request group: records {@code first .. first+count-1} of {@code faults}
 * (the last one has LAST_PAGE set and carries the cookie to answer). Runs on the pump's
 * thread; the records are valid only during the call.
 */
@FunctionalInterface
public interface FaultHandler {
    /** Returned by {@link #onGroup} to answer later with {@link FaultPump#respond(long, int)}. */
    int DEFERRED = -1;

    /**
     * @param ticket identifies the group for a deferred answer; unique over the pump's life
     * @return the response code ({@code PageResponses.SUCCESS} or {@code INVALID}), or
     *         {@link #DEFERRED} to answer later from any thread. Any other value (and a throw)
     *         counts as a handler error and answers the group INVALID.
     */
    int onGroup(FaultQueue queue, PageFaults faults, int first, int count, long ticket) throws Exception;
}
