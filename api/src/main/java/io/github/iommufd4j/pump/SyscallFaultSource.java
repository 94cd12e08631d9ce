package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.internal.Jfr;
import io.github.iommufd4j.internal.uring.IoUringException;

/**
 * {@link FaultPump.RecordPath#SYSCALLS}: a one-shot poll on the ring says when the queue is
 * readable; records are read with read(2) (through {@link FaultQueue#read}) until a read comes back
 * short. A short read does not prove the queue empty (the kernel also stops before a group that
 * does not fit), so instead of a further read(2) that would mostly return 0, the poll is armed
 * again in the ring's next io_uring_enter: the kernel checks readiness when it takes the poll and
 * completes it at once if records are left. A batch's answers are queued as a ring write before
 * the next batch is read (see {@link FaultSource}); while one is queued and not submitted, the
 * loop's next enter submits it without waiting. A batch thus costs one enter and one read.
 */
final class SyscallFaultSource extends FaultSource {
    private static final int EINVAL = 22;

    SyscallFaultSource(PumpLoop loop, int index, FaultQueue queue, int batch, int answers) throws IommufdException {
        super(loop, index, queue, batch, answers);
    }

    @Override
    void arm() throws IoUringException {
        loop.ring.pollAdd(fd, Libc.POLLIN, userData);
        busy = true;
    }

    @Override
    void serve() throws IommufdException {
        for (;;) {
            handleRead();
            if (next < records.count() || !ready || !loop.answers.hasFreeSlot() || loop.stopping) break;
            if (!roomForBatch()) break; // the next turn comes at once (noWait) and reads on
            FaultBatchEvent event = Jfr.on() ? FaultBatchEvent.started() : null; // null unless a JFR recording wants it
            int n = readWhole();
            if (n < records.capacity()) ready = false; // short: the poll armed below tells whether records are left
            if (n == 0) break;
            if (event != null) FaultBatchEvent.commit(event, queue.id(), n, handleRead());
        }
        flush();
        if (!ready) rearmPoll(); // while records are waiting for a free slot, the wake-up of an answer serves them
    }

    /** One read(2); a group larger than the buffer grows it and reads again. */
    private int readWhole() throws IommufdException {
        for (;;) {
            try {
                loop.reads.incrementAndGet();
                int n = queue.read(records);
                read(n);
                return n;
            } catch (IommufdException e) {
                if (e.errno() != EINVAL) throw e;
                if (!grow()) throw groupTooLarge();
            }
        }
    }
}
