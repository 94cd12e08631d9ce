package io.github.iommufd4j.junit;

/** The guest machine (see run-vm.sh among this package's resources). */
public enum Profile {
    /** No vIOMMU: the kernel's iommufd with its mock driver (iommufd selftest), fault objects. */
    MOCK,
    /** Intel vIOMMU (intremap, caching mode) and QEMU's edu DMA device bound to vfio-pci. */
    INTEL,
    /** The same in scalable mode. */
    INTEL_SM,
    /** virtio-iommu and the edu device bound to vfio-pci. */
    VIRTIO;

    /**
     * Returns the name run-vm.sh takes, e.g. {@code intel-sm}.
     *
     * @return the name run-vm.sh takes, e.g. {@code intel-sm}
     */
    public String scriptName() {
        return name().toLowerCase().replace('_', '-');
    }
}
