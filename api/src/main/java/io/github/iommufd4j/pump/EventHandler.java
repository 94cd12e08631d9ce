package io.github.iommufd4j.pump;

import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.VirtualEvents;

/**
 * Handles a batch of vEVENTs a {@link FaultPump} read from an event queue (records
 * {@code 0 .. events.count()-1}, valid only during the call), e.g. to put them into the guest's
 * vIOMMU event queue. Runs on the pump's thread; there is nothing to answer.
 * {@link VirtualEvents#lossBefore(int)} tells where the queue overflowed.
 */
@FunctionalInterface
public interface EventHandler {
    /**
     * Handles the events just read.
     *
     * @param queue  the queue they came from
     * @param events the batch, valid only during the call
     * @throws Exception anything: counted as a handler error, the pump goes on
     */
    void onEvents(EventQueue queue, VirtualEvents events) throws Exception;
}
