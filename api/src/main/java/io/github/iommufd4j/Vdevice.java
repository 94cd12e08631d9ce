package io.github.iommufd4j;

/**
 * A virtual device (IOMMU_VDEVICE_ALLOC): a bound device as the guest knows it behind a
 * {@link Viommu}, by its virtual id (e.g. the stream id the guest's SMMUv3 driver uses). Made by
 * {@link Viommu#allocVdevice(int, long)}, closed before the vIOMMU. Unbinding the device destroys
 * its vDEVICE in the kernel; closing the handle afterwards is not an error.
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

    /**
     * The kernel's object id.
     *
     * @return the vDEVICE id
     */
    public int id() {
        return id;
    }

    /**
     * The bound device it stands for.
     *
     * @return the device id
     */
    public int deviceId() {
        return deviceId;
    }

    /**
     * The id the guest knows the device by.
     *
     * @return the virtual id
     */
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

    /**
     * Names the vDEVICE, its device and virtual id.
     *
     * @return e.g. {@code Vdevice[8, dev=2, virt_id=0x42]}
     */
    @Override
    public String toString() {
        return "Vdevice[" + id + ", dev=" + deviceId + ", virt_id=0x" + Long.toHexString(virtId) + "]";
    }
}
