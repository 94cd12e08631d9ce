package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_vevent_arm_smmuv3;
import io.github.iommufd4j.bindings.uapi.iommu_vevent_tegra241_cmdqv;
import io.github.iommufd4j.bindings.uapi.iommu_viommu_event_selftest;

/**
 * A vIOMMU event queue (IOMMU_VEVENTQ_ALLOC, Linux 6.15+) and its file descriptor: the fault
 * queue's sibling for events the guest's vIOMMU must see (e.g. SMMUv3 stage-1 faults of a
 * device the guest controls), which the VMM forwards into the guest's event queue. Records are
 * an 8-byte {@code iommufd_vevent_header} (flags, sequence number) and a payload of the queue's
 * type; a header alone with the LOST_EVENTS flag says the queue overflowed. Read-only: there is
 * nothing to answer. A {@link io.github.iommufd4j.pump.FaultPump} can serve event queues next to
 * fault queues.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=event-queue}
 *
 * <p>Like the fault fd, the kernel's read never blocks (0 when empty); {@link #close()} from
 * another thread wakes a thread in {@link #await(int)}. Made by
 * {@link Viommu#allocEventQueue(int, int)}; one queue per type and vIOMMU. The fd is owned by
 * this handle.
 */
public final class EventQueue extends RecordQueue {
    private final int type;
    private final int payloadSize;

    EventQueue(Iommufd iommufd, int id, int fd, int wakeFd, int type, int payloadSize) {
        super(iommufd, id, fd, wakeFd, "vEVENTQ");
        this.type = type;
        this.payloadSize = payloadSize;
    }

    /**
     * The payload size of the vEVENT types the UAPI defines.
     *
     * @param type a vEVENTQ type, e.g. {@code IOMMU_VEVENTQ_TYPE_ARM_SMMUV3} or
     *             {@link MockDriver#VEVENTQ_TYPE_SELFTEST}
     * @return bytes of payload per event, or 0 for a type this library does not know
     */
    public static int payloadSize(int type) {
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3()) return (int) iommu_vevent_arm_smmuv3.sizeof();
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV()) return (int) iommu_vevent_tegra241_cmdqv.sizeof();
        if (type == Uapi.IOMMU_VEVENTQ_TYPE_SELFTEST()) return (int) iommu_viommu_event_selftest.sizeof();
        return 0;
    }

    /**
     * The vEVENTQ type it was allocated with.
     *
     * @return the type
     */
    public int type() {
        return type;
    }

    /**
     * Bytes of payload after each event's header.
     *
     * @return the payload size
     */
    public int payloadSize() {
        return payloadSize;
    }

    /**
     * A reusable batch for reading this queue.
     *
     * @param capacity the most events one read returns
     * @return a batch sized for {@code capacity} events of this queue's payload size
     */
    public VirtualEvents newBatch(int capacity) {
        return new VirtualEvents(capacity, payloadSize);
    }

    /**
     * Reads as many whole events as fit into {@code batch}, without blocking.
     *
     * @param batch a batch made for this queue's payload size ({@link #newBatch(int)})
     * @return how many records were read (lost-events headers included), 0 when none are pending
     * @throws IommufdException EINVAL when the next event does not fit the batch, EBADF "handle is
     *         closed" after {@link #close()}
     * @throws IllegalArgumentException if the batch was made for another payload size
     */
    public int read(VirtualEvents batch) throws IommufdException {
        if (batch.payloadSize() != payloadSize) throw new IllegalArgumentException("batch made for another payload size");
        return batch.parse((int) readRecords(batch.buffer(), batch.capacityBytes()));
    }

    /**
     * Waits for events and reads them: {@link #await(int)} then {@link #read(VirtualEvents)}.
     *
     * @param batch         a batch made for this queue's payload size
     * @param timeoutMillis the longest wait in milliseconds, -1 forever
     * @return how many records were read, 0 on timeout
     * @throws IommufdException EBADF "handle is closed" when the queue is or gets closed
     */
    public int readBlocking(VirtualEvents batch, int timeoutMillis) throws IommufdException {
        int n = read(batch);
        if (n > 0 || !await(timeoutMillis)) return n;
        return read(batch);
    }

    @Override
    String describe() {
        return "veventq=" + id() + ", fd=" + fd();
    }

    /**
     * Names the queue by id, fd and type.
     *
     * @return e.g. {@code EventQueue[6, fd=14, type=0xbeefbeef]}
     */
    @Override
    public String toString() {
        return "EventQueue[" + id() + ", fd=" + fd() + ", type=0x" + Integer.toHexString(type) + (isClosed() ? ", closed" : "") + "]";
    }
}
