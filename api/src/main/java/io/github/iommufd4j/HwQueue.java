package io.github.iommufd4j;

/**
 * A HW queue of a {@link Viommu} (IOMMU_HW_QUEUE_ALLOC): guest memory the IOMMU hardware reads
 * directly. Drivers may make a queue depend on the one before it (the kernel then refuses to
 * destroy the lower one first: EBUSY); closing the vIOMMU closes them newest first.
 */
public final class HwQueue extends Handle {
    private final int id;
    private final int index;

    HwQueue(Iommufd iommufd, int id, int index) {
        super(iommufd);
        this.id = id;
        this.index = index;
    }

    /**
     * The kernel's object id.
     *
     * @return the HW queue id
     */
    public int id() {
        return id;
    }

    /**
     * The queue's index in its vIOMMU.
     *
     * @return the index
     */
    public int index() {
        return index;
    }

    @Override
    void release() throws IommufdException {
        iommufd.destroy(id);
    }

    @Override
    String describe() {
        return "hw_queue=" + id;
    }

    /**
     * Names the queue by id and index.
     *
     * @return e.g. {@code HwQueue[9, index=0]}
     */
    @Override
    public String toString() {
        return "HwQueue[" + id + ", index=" + index + "]";
    }
}
