package io.github.iommufd4j;

/**
 * A virtual device (IOMMU_VDEVICE_ALLOC): a bound device as the guest knows it behind a
 * {@link Viommu}, by its virtual id.
 */
public final class Vdevice extends Handle {
    private final int id;
    private final int deviceId;
    private final long virtId;

    Vdevice(Iommufd iommufd, int id, int deviceId, long virtId) {
        super(iommufd);
        this.id = id;
        this.deviceId = deviceId;
        this.virtId = virtId;
    }

    public int id() {
        return id;
    }

    /** The bound device it stands for. */
    public int deviceId() {
        return deviceId;
    }

    /** The id the guest knows the device by. */
    public long virtId() {
        return virtId;
    }

    @Override
    void release() throws IommufdException {
        try {
            iommufd.destroy(id);
        } catch (IommufdException e) {
            // Unbinding the device destroys its vDEVICE with it (Linux 7.x leaves the id unusable).
            if (!"ENOENT".equals(e.errnoName())) throw e;
        }
    }

    @Override
    String describe() {
        return "vdevice=" + id + ", dev=" + deviceId;
    }

    @Override
    public String toString() {
        return "Vdevice[" + id + ", dev=" + deviceId + ", virt_id=0x" + Long.toHexString(virtId) + "]";
    }
}
