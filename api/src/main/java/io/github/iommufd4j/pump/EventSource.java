package io.github.iommufd4j.pump;

import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.VirtualEvents;

/** A vIOMMU event queue under the pump: a multishot poll, then read(2) until empty; nothing to answer. */
final class EventSource extends Source {
    private final EventQueue queue;
    private final VirtualEvents batch;

    EventSource(PumpLoop loop, int index, EventQueue queue, int batch) throws IommufdException {
        super(loop, index, PumpLoop.EVENT, queue, queue.fd(), queue.toString());
        this.queue = queue;
        this.batch = queue.newBatch(batch);
    }

    @Override
    boolean queueClosed() {
        return queue.isClosed();
    }

    @Override
    String describe() {
        return queue.toString();
    }

    @Override
    void serve() throws IommufdException {
        while (ready && !loop.stopping) {
            int n = queue.read(batch);
            if (n == 0) {
                ready = false;
                break;
            }
            int lost = 0;
            for (int i = 0; i < n; i++) if (batch.lossBefore(i)) lost++;
            loop.onEvents(queue, batch);
            loop.events.addAndGet(n);
            loop.lossMarks.addAndGet(lost);
            loop.batches.incrementAndGet();
        }
        rearmPoll();
    }
}
