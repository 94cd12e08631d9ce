package io.github.iommufd4j.pump;

import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.VirtualEvents;

/**
 * Handles a batch of vEVENTs read from an event queue (records {@code 0 .. events.count()-1},
 * valid only during the call). Runs on the pump's thread; there is nothing to answer.
 * {@link VirtualEvents#lossBefore(int)} tells where the queue overflowed.
 */
@FunctionalInterface
public interface EventHandler {
    void onEvents(EventQueue queue, VirtualEvents events) throws Exception;
}
