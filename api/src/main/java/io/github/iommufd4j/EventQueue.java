package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_vevent_arm_smmuv3;
import io.github.iommufd4j.bindings.uapi.iommu_vevent_tegra241_cmdqv;
import io.github.iommufd4j.bindings.uapi.iommu_viommu_event_selftest;

/**
 * A vIOMMU event queue (IOMMU_VEVENTQ_ALLOC, Linux 6.15+) and its file descriptor: the fault
 * queue's sibling for events the guest's vIOMMU must see (e.g. SMMUv3 stage-1 faults). Records
 * are an 8-byte {@code iommufd_vevent_header} (flags, sequence) and a payload of the queue's type;
 * a header alone with the LOST_EVENTS flag says the queue overflowed. Read-only: there is nothing
 * to answer. The fault pump serves event queues next to fault queues.
 *
 * <p>Like the fault fd, the kernel's read never blocks (0 when empty); {@link #close()} from another
 * thread wakes a thread in {@link #await(int)}. The fd is owned by this handle.
 */
public final class EventQueue extends RecordQueue {
    private final int type;
    private final int payloadSize;

    EventQueue(Iommufd iommufd, int id, int fd, int wakeFd, int type, int payloadSize) {
        super(iommufd, id, fd, wakeFd, "vEVENTQ");
        this.type = type;
        this.payloadSize = payloadSize;
    }

    /** The payload size of the vEVENT types the UAPI defines, or 0 for an unknown type. */
    public static int payloadSize(int type) {
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3()) return (int) iommu_vevent_arm_smmuv3.sizeof();
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV()) return (int) iommu_vevent_tegra241_cmdqv.sizeof();
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_SELFTEST()) return (int) iommu_viommu_event_selftest.sizeof();
        return 0;
    }

    /** The vEVENT type. */
    public int type() {
        return type;
    }

    /** Bytes of payload after each event's header. */
    public int payloadSize() {
        return payloadSize;
    }

    /** A reusable batch sized for {@code capacity} events of this queue. */
    public VirtualEvents newBatch(int capacity) {
        return new VirtualEvents(capacity, payloadSize);
    }

    /** Reads as many whole events as fit into {@code batch} (non-blocking); returns how many (0 when none). */
    public int read(VirtualEvents batch) throws IommufdException {
        if (batch.payloadSize() != payloadSize) throw new IllegalArgumentException("batch made for another payload size");
        return batch.parse((int) readRecords(batch.buffer(), batch.capacityBytes()));
    }

    /** Waits for events (up to {@code timeoutMillis}, -1 forever) and reads them; returns the number read. */
    public int readBlocking(VirtualEvents batch, int timeoutMillis) throws IommufdException {
        int n = read(batch);
        if (n > 0 || !await(timeoutMillis)) return n;
        return read(batch);
    }

    @Override
    String describe() {
        return "veventq=" + id() + ", fd=" + fd();
    }

    @Override
    public String toString() {
        return "EventQueue[" + id() + ", fd=" + fd() + ", type=0x" + Integer.toHexString(type) + (isClosed() ? ", closed" : "") + "]";
    }
}
