package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.Jfr;
import io.github.iommufd4j.internal.uring.IoUringException;

/**
 * {@link FaultPump.RecordPath#RING}: an IORING_OP_READ of the queue always in flight, so a batch
 * costs no read(2). The fault fd has only a {@code .read} file operation, and io_uring tries such
 * a read without blocking only when the file has O_NONBLOCK (otherwise every read goes to an
 * io-wq worker; docs/kernel-behaviour.md §5.3): {@link FaultSource} sets it. On an empty
 * queue the fault fd's read returns 0 at once (never EAGAIN), so a read that found nothing is
 * followed by a one-shot poll, and the next read waits for it: no turn of the loop for nothing.
 */
final class RingFaultSource extends FaultSource {
    private static final int EAGAIN = 11, EINVAL = 22, ECANCELED = 125, NONE = Integer.MIN_VALUE;
    /** The result of the read that completed and was not served yet. */
    private int result = NONE;
    /** The last read found the queue empty: the ring operation in flight (or next) is a poll, not a read. */
    private boolean polling;

    RingFaultSource(PumpLoop loop, int index, FaultQueue queue, int batch, int answers) throws IommufdException {
        super(loop, index, queue, batch, answers);
    }

    @Override
    void arm() throws IoUringException {
        if (polling) loop.ring.pollAdd(fd, Libc.POLLIN, userData);
        else loop.ring.read(fd, records.buffer(), 0, userData); // the whole buffer: PageFaults(n) is exactly n records
        busy = true;
    }

    @Override
    void completed(int res, int flags) {
        busy = false;
        if (polling) { // the poll's: records arrived (or it failed: its errno is served as the read's)
            polling = false;
            if (res < 0 && !retired) result = res;
            return;
        }
        if (!retired) {
            result = res;
        } else if (res > 0) {
            // Read while the pump let go of the queue: the groups were taken from the kernel, so answer them.
            answerUnhandled(recordsOf(res), 0, res / PageFaults.RECORD);
        }
    }

    private PageFaults recordsOf(int bytes) {
        records.setCount(bytes / PageFaults.RECORD);
        return records;
    }

    @Override
    void serve() throws IommufdException {
        int res = result;
        result = NONE;
        if (res == -EINVAL) {
            if (!grow()) throw groupTooLarge();
        } else if (res < 0 && res != NONE && res != -ECANCELED && res != -EAGAIN) {
            throw new IommufdException("io_uring read(fault fd)", describe(), -res);
        } else if (res == 0) {
            polling = true; // empty: wait for records before reading again
        } else if (res > 0) {
            FaultBatchEvent event = Jfr.on() ? FaultBatchEvent.started() : null;
            recordsOf(res);
            read(records.count());
            int groups = handleRead();
            if (event != null) FaultBatchEvent.commit(event, queue.id(), records.count(), groups);
        }
        handleRead();
        flush();
        // The next read once this one's groups all went to the handler.
        if (!busy && !retired && !loop.stopping && next >= records.count() && loop.answers.hasFreeSlot()) arm();
    }
}
