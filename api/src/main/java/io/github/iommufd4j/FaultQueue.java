package io.github.iommufd4j;

/**
 * A fault queue (IOMMU_FAULT_QUEUE_ALLOC, Linux 6.11+) and its file descriptor: where the
 * kernel delivers the I/O page faults (PRI page requests) of devices behind a page table
 * allocated with this queue, so that the VMM can make the pages present (or forward the fault to
 * the guest's vIOMMU) and answer. Faults arrive as 40-byte {@code iommu_hwpt_pgfault} records
 * grouped into page request groups (the last record of a group has LAST_PAGE and the cookie);
 * each group is answered once with an 8-byte {@code iommu_hwpt_page_response}. A device waits
 * for the answer, so an unanswered group stalls its DMA; detaching the device (or replacing its
 * page table) answers its groups INVALID. Cookies are assigned when a group is read.
 *
 * <p>The usual way to serve it is a {@link io.github.iommufd4j.pump.FaultPump}, which reads and
 * answers in batches on its own thread:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=pump}
 *
 * <p>or by hand, with reusable batches:
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=fault-queue}
 *
 * <p>The kernel's read never blocks: it returns 0 when nothing is pending, so
 * {@link #read(PageFaults)} is non-blocking and {@link #await(int)} waits for readiness with
 * poll(2); {@link #close()} from another thread wakes such a wait. Reading and responding
 * allocate nothing. The fd is owned by this handle; it is closed before the fault object is
 * destroyed.
 */
public final class FaultQueue extends RecordQueue {

    FaultQueue(Iommufd iommufd, int id, int fd, int wakeFd) {
        super(iommufd, id, fd, wakeFd, "fault");
    }

    /**
     * The backend whose fault object this is (the pump's io_uring record path needs the kernel's).
     *
     * @return {@link Backend#NATIVE} or {@link Backend#SOFTWARE}
     */
    public Backend backend() {
        return iommufd.backend();
    }

    /**
     * Reads as many whole fault groups as fit into {@code batch}, without blocking.
     *
     * @param batch the batch to fill (its previous contents are replaced)
     * @return the number of records read, 0 when none are pending
     * @throws IommufdException EINVAL when the next group is larger than the batch (the kernel
     *         delivers groups whole), EBADF "handle is closed" after {@link #close()}
     */
    public int read(PageFaults batch) throws IommufdException {
        long n = readRecords(batch.buffer(), batch.capacityBytes());
        batch.setCount((int) (n / PageFaults.RECORD));
        return batch.count();
    }

    /**
     * Writes the queued responses of {@code responses} in one write(2) and removes those the kernel
     * took.
     *
     * @param responses the answers, one per group (cookie and code)
     * @return how many responses the kernel took (0 when there were none); the kernel stops at
     *         the first bad record, which stays queued in {@code responses}
     * @throws IommufdException EINVAL when the first record has a cookie that is not outstanding
     *         (never read, already answered, or answered INVALID by a detach), EBADF "handle is
     *         closed" after {@link #close()}
     */
    public int respond(PageResponses responses) throws IommufdException {
        if (responses.count() == 0) return 0;
        try (KernelCall k = KernelCall.begin(this, "write(fault fd)")) {
            long n = k.write(fd(), responses.buffer(), (long) responses.count() * PageResponses.RECORD, this);
            int taken = (int) (n / PageResponses.RECORD);
            responses.consumed(taken);
            return taken;
        }
    }

    /**
     * Waits for faults and reads them: {@link #await(int)} then {@link #read(PageFaults)}.
     *
     * @param batch         the batch to fill
     * @param timeoutMillis the longest wait in milliseconds, -1 forever
     * @return the number of records read, 0 on timeout
     * @throws IommufdException EBADF "handle is closed" when the queue is or gets closed, EINVAL when
     *         the next group is larger than the batch
     */
    public int readBlocking(PageFaults batch, int timeoutMillis) throws IommufdException {
        int n = read(batch);
        if (n > 0 || !await(timeoutMillis)) return n;
        return read(batch);
    }

    @Override
    String describe() {
        return "fault=" + id() + ", fd=" + fd();
    }

    /**
     * Names the queue by id and fd.
     *
     * @return e.g. {@code FaultQueue[4, fd=12]}
     */
    @Override
    public String toString() {
        return "FaultQueue[" + id() + ", fd=" + fd() + (isClosed() ? ", closed" : "") + "]";
    }
}
