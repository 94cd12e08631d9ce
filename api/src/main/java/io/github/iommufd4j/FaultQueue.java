package io.github.iommufd4j;

import java.lang.foreign.MemorySegment;

/**
 * A fault queue (IOMMU_FAULT_QUEUE_ALLOC) and its file descriptor. I/O page faults of devices
 * behind a page table allocated with this queue arrive as 40-byte {@code iommu_hwpt_pgfault}
 * records; answers go back as 8-byte {@code iommu_hwpt_page_response} records.
 *
 * <p>The kernel's read never blocks: it returns 0 when nothing is pending, so
 * {@link #read(PageFaults)} is non-blocking and {@link #await(int)} waits for readiness with
 * poll(2). Reading and responding allocate nothing. The fd is owned by this handle.
 */
public final class FaultQueue extends Handle {
    private final int id;
    private final int fd;

    FaultQueue(Iommufd iommufd, int id, int fd) {
        super(iommufd);
        this.id = id;
        this.fd = fd;
    }

    public int id() {
        return id;
    }

    /** The backend whose fault object this is. */
    public Backend backend() {
        return iommufd.backend();
    }

    /** The queue's file descriptor (for poll/io_uring); owned by this handle. */
    public int fd() {
        return fd;
    }

    /**
     * Reads as many whole fault groups as fit into {@code batch} (non-blocking) and returns the
     * number of records read (0 when none are pending).
     */
    public int read(PageFaults batch) throws IommufdException {
        enter("read(fault fd)");
        try {
            long n = iommufd.raw().read(fd, batch.buffer(), batch.capacityBytes());
            if (n < 0) throw new IommufdException("read(fault fd)", describe() + ", count=" + batch.capacityBytes(), (int) -n);
            batch.setCount((int) (n / PageFaults.RECORD));
            return batch.count();
        } finally {
            exit();
        }
    }

    /** Writes the queued responses of {@code responses} and clears it; returns how many the kernel took. */
    public int respond(PageResponses responses) throws IommufdException {
        if (responses.count() == 0) return 0;
        enter("write(fault fd)");
        try {
            long n = iommufd.raw().write(fd, responses.buffer(), (long) responses.count() * PageResponses.RECORD);
            if (n < 0) throw new IommufdException("write(fault fd)", describe() + ", responses=" + responses.count(), (int) -n);
            int taken = (int) (n / PageResponses.RECORD);
            responses.consumed(taken);
            return taken;
        } finally {
            exit();
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: forever) until a fault is pending; true if one is.
     * poll(2) on the fd: the kernel reports POLLIN while undelivered faults exist.
     */
    public boolean await(int timeoutMillis) throws IommufdException {
        enter("poll(fault fd)");
        try {
            return Readiness.await(fd, timeoutMillis, "poll(fault fd)", this);
        } finally {
            exit();
        }
    }

    /** Waits for faults (up to {@code timeoutMillis}) and reads them; returns the number read. */
    public int readBlocking(PageFaults batch, int timeoutMillis) throws IommufdException {
        int n = read(batch);
        if (n > 0 || !await(timeoutMillis)) return n;
        return read(batch);
    }

    @Override
    void release() throws IommufdException {
        // The fd holds the FAULT object: close it first, then the object can be destroyed.
        releaseFds();
        iommufd.destroy(id);
    }

    @Override
    void releaseFds() {
        iommufd.raw().closeFd(fd);
    }

    @Override
    String describe() {
        return "fault=" + id + ", fd=" + fd;
    }

    @Override
    public String toString() {
        return "FaultQueue[" + id + ", fd=" + fd + "]";
    }
}
