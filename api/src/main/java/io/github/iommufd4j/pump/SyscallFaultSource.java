package io.github.iommufd4j.pump;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.internal.Jfr;

/**
 * {@link FaultPump.RecordPath#SYSCALLS}: a multishot poll on the ring says when the queue is
 * readable; records are read with read(2) (through {@link FaultQueue#read}) until it is empty.
 */
final class SyscallFaultSource extends FaultSource {
    private static final int EINVAL = 22;

    SyscallFaultSource(PumpLoop loop, int index, FaultQueue queue, int batch, int answers) throws IommufdException {
        super(loop, index, queue, batch, answers);
    }

    @Override
    void serve() throws IommufdException {
        for (;;) {
            handleRead();
            flush(); // a batch's answers go out before the next batch is read
            if (next < records.count() || !ready || !loop.answers.hasFreeSlot() || loop.stopping) break;
            FaultBatchEvent event = Jfr.PRESENT ? FaultBatchEvent.started() : null; // null unless a JFR recording wants it
            int n = readWhole();
            if (n == 0) {
                ready = false;
                break;
            }
            if (event != null) FaultBatchEvent.commit(event, queue.id(), n, handleRead());
        }
        rearmPoll();
    }

    /** One read(2); a group larger than the buffer grows it and reads again. */
    private int readWhole() throws IommufdException {
        for (;;) {
            try {
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
