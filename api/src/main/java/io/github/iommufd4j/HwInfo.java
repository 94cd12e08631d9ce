package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * IOMMU_GET_HW_INFO: the IOMMU behind a device.
 *
 * @param type         IOMMU_HW_INFO_TYPE_* (e.g. INTEL_VTD, ARM_SMMUV3, or the mock's 0xfeedbeef)
 * @param data         the driver's raw info struct (e.g. {@code struct iommu_hw_info_vtd})
 * @param capabilities IOMMU_HW_CAP_* bits
 * @param maxPasidLog2 the PASID width, 0 without PASID support
 */
public record HwInfo(int type, byte[] data, long capabilities, int maxPasidLog2) {
    /**
     * Whether the IOMMU is Intel VT-d ({@link #data()} is a {@code struct iommu_hw_info_vtd}).
     *
     * @return true for VT-d
     */
    public boolean isIntelVtd() {
        return type == Uapi.IOMMU_HW_INFO_TYPE_INTEL_VTD();
    }

    /**
     * Whether the IOMMU is an ARM SMMUv3 ({@link #data()} decodes with {@link Smmuv3HwInfo#of}).
     *
     * @return true for SMMUv3
     */
    public boolean isArmSmmuv3() {
        return type == Smmuv3HwInfo.TYPE;
    }

    /**
     * IOMMU_HW_CAP_DIRTY_TRACKING: page tables of this IOMMU can track dirty pages
     * ({@link HwptFlag#DIRTY_TRACKING}).
     *
     * @return true if they can
     */
    public boolean dirtyTracking() {
        return (capabilities & Uapi.IOMMU_HW_CAP_DIRTY_TRACKING()) != 0;
    }

    /**
     * VT-d: the capability register (cap_reg), from {@code struct iommu_hw_info_vtd}.
     *
     * @return the register's value
     * @throws IllegalStateException when this is not VT-d info
     */
    public long vtdCapReg() {
        requireVtd();
        return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).getLong(8);
    }

    /**
     * VT-d: the extended capability register (ecap_reg).
     *
     * @return the register's value
     * @throws IllegalStateException when this is not VT-d info
     */
    public long vtdEcapReg() {
        requireVtd();
        return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).getLong(16);
    }

    private void requireVtd() {
        if (!isIntelVtd() || data.length < 24) throw new IllegalStateException("not VT-d info: type " + type);
    }

    /**
     * The type, capabilities and PASID width.
     *
     * @return e.g. {@code HwInfo[type=INTEL_VTD, capabilities=0x1, maxPasidLog2=20]}
     */
    @Override
    public String toString() {
        String t = isIntelVtd() ? "INTEL_VTD" : isArmSmmuv3() ? "ARM_SMMUV3" : type == 0xfeedbeef ? "SELFTEST" : "0x" + Integer.toHexString(type);
        return "HwInfo[type=" + t + ", capabilities=0x" + Long.toHexString(capabilities) + ", maxPasidLog2=" + maxPasidLog2 + "]";
    }
}
