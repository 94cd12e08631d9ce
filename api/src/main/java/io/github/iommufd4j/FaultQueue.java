package io.github.iommufd4j;

/**
 * A fault queue (IOMMU_FAULT_QUEUE_ALLOC) and its file descriptor. I/O page faults of devices
 * behind a page table allocated with this queue arrive as 40-byte {@code iommu_hwpt_pgfault}
 * records; answers go back as 8-byte {@code iommu_hwpt_page_response} records.
 *
 * <p>The kernel's read never blocks: it returns 0 when nothing is pending, so
 * {@link #read(PageFaults)} is non-blocking and {@link #await(int)} waits for readiness with
 * poll(2); {@link #close()} from another thread wakes such a wait. Reading and responding
 * allocate nothing. The fd is owned by this handle.
 */
public final class FaultQueue extends RecordQueue {

    FaultQueue(Iommufd iommufd, int id, int fd, int wakeFd) {
        super(iommufd, id, fd, wakeFd, "fault");
    }

    /** The backend whose fault object this is. */
    public Backend backend() {
        return iommufd.backend();
    }

    /**
     * Reads as many whole fault groups as fit into {@code batch} (non-blocking) and returns the
     * number of records read (0 when none are pending). A group larger than the batch fails with
     * EINVAL (the kernel delivers groups whole).
     */
    public int read(PageFaults batch) throws IommufdException {
        long n = readRecords(batch.buffer(), batch.capacityBytes());
        batch.setCount((int) (n / PageFaults.RECORD));
        return batch.count();
    }

    /** Writes the queued responses of {@code responses} and clears it; returns how many the kernel took. */
    public int respond(PageResponses responses) throws IommufdException {
        if (responses.count() == 0) return 0;
        try (KernelCall k = KernelCall.begin(this, "write(fault fd)")) {
            long n = k.write(fd(), responses.buffer(), (long) responses.count() * PageResponses.RECORD, this);
            int taken = (int) (n / PageResponses.RECORD);
            responses.consumed(taken);
            return taken;
        }
    }

    /** Waits for faults (up to {@code timeoutMillis}, -1 forever) and reads them; returns the number read. */
    public int readBlocking(PageFaults batch, int timeoutMillis) throws IommufdException {
        int n = read(batch);
        if (n > 0 || !await(timeoutMillis)) return n;
        return read(batch);
    }

    @Override
    String describe() {
        return "fault=" + id() + ", fd=" + fd();
    }

    @Override
    public String toString() {
        return "FaultQueue[" + id() + ", fd=" + fd() + (isClosed() ? ", closed" : "") + "]";
    }
}
