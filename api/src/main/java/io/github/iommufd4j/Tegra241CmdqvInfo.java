package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hw_info_tegra241_cmdqv;

import java.lang.foreign.MemorySegment;

/**
 * GET_HW_INFO of NVIDIA's Tegra241 CMDQV, the command-queue virtualisation extension of its
 * SMMUv3 ({@code struct iommu_hw_info_tegra241_cmdqv}), asked with
 * {@link Iommufd#hwInfo(int, int)} and {@link #TYPE}. A VMM copies the fields into the PARAM
 * register of the CMDQV it emulates.
 *
 * @param flags      0 today
 * @param version    the CMDQV version (PARAM bits 3:0)
 * @param log2Vcmdqs log2 of the number of virtual command queues (PARAM bits 7:4)
 * @param log2Vsids  log2 of the number of stream id replacements (PARAM bits 15:12)
 */
public record Tegra241CmdqvInfo(int flags, int version, int log2Vcmdqs, int log2Vsids) {
    /** {@code IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV}. */
    public static final int TYPE = Uapi.IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV();
    /** {@code IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV}: its vIOMMU type. */
    public static final int VIOMMU_TYPE = Uapi.IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV();
    /** {@code IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV}: its HW queue type ({@link Viommu#allocHwQueue}). */
    public static final int HW_QUEUE_TYPE = Uapi.IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV();

    /**
     * Decodes the driver data of a {@link HwInfo} of type {@link #TYPE}.
     *
     * @param info what GET_HW_INFO reported
     * @return the decoded fields
     * @throws IllegalArgumentException when {@code info} is not Tegra241 CMDQV info or too short
     */
    public static Tegra241CmdqvInfo of(HwInfo info) {
        if (info.type() != TYPE || info.data().length < iommu_hw_info_tegra241_cmdqv.sizeof()) {
            throw new IllegalArgumentException("not Tegra241 CMDQV info: type " + info.type() + ", " + info.data().length + " bytes");
        }
        MemorySegment a = MemorySegment.ofArray(new int[(int) (iommu_hw_info_tegra241_cmdqv.sizeof() / 4)]);
        a.copyFrom(MemorySegment.ofArray(info.data()).asSlice(0, a.byteSize()));
        return new Tegra241CmdqvInfo(iommu_hw_info_tegra241_cmdqv.flags(a), iommu_hw_info_tegra241_cmdqv.version(a) & 0xff,
                iommu_hw_info_tegra241_cmdqv.log2vcmdqs(a) & 0xff, iommu_hw_info_tegra241_cmdqv.log2vsids(a) & 0xff);
    }
}
