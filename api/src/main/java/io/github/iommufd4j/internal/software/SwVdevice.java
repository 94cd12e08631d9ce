package io.github.iommufd4j.internal.software;

/** A vDEVICE (7.3 {@code viommu.c}): a device as the guest knows it by {@link #virtId}; holds its vIOMMU and device. */
final class SwVdevice extends SwObject {
    final SwViommu viommu;
    final SwDevice device;
    final long virtId;

    SwVdevice(int id, SwViommu viommu, SwDevice device, long virtId) {
        super(id);
        this.viommu = viommu;
        this.device = device;
        this.virtId = virtId;
    }

    @Override
    Kind kind() {
        return Kind.VDEVICE;
    }
}
