package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hw_info_arm_smmuv3;

import java.lang.foreign.MemorySegment;

/**
 * GET_HW_INFO of an ARM SMMUv3 ({@code struct iommu_hw_info_arm_smmuv3}): the raw ID registers a
 * VMM copies into the SMMUv3 it emulates for its guest. The decoders cover the fields the UAPI
 * lets a VMM use (linux/iommufd.h lists them); bit positions follow the SMMUv3 specification's
 * register descriptions (SMMU_IDR0 to SMMU_IDR5).
 *
 * @param flags IOMMU_HW_INFO_ARM_SMMUV3_* flags (e.g. {@link #FLAG_ERRATA_REPEAT_TLBI_CFGI})
 * @param idr   SMMU_IDR0 to SMMU_IDR5 (a copy: six entries)
 * @param iidr  SMMU_IIDR: implementer, product and revision
 * @param aidr  SMMU_AIDR: the architecture version (e.g. 0 for SMMUv3.0, 1 for v3.1)
 */
public record Smmuv3HwInfo(int flags, int[] idr, int iidr, int aidr) {
    /** {@code IOMMU_HW_INFO_TYPE_ARM_SMMUV3}: the {@link HwInfo#type()} of this info. */
    public static final int TYPE = Uapi.IOMMU_HW_INFO_TYPE_ARM_SMMUV3();
    /** {@code IOMMU_VIOMMU_TYPE_ARM_SMMUV3}: the vIOMMU type of {@link Iommufd#allocViommu}. */
    public static final int VIOMMU_TYPE = Uapi.IOMMU_VIOMMU_TYPE_ARM_SMMUV3();
    /** {@code IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI}: issue TLBI/CFGI + SYNC twice. */
    public static final int FLAG_ERRATA_REPEAT_TLBI_CFGI = Uapi.IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI();

    /**
     * Checks and copies the registers.
     *
     * @throws IllegalArgumentException unless {@code idr} has six entries
     */
    public Smmuv3HwInfo {
        if (idr.length != 6) throw new IllegalArgumentException("SMMUv3 has 6 IDRs, not " + idr.length);
        idr = idr.clone();
    }

    /**
     * Decodes the driver data of a {@link HwInfo} of type {@link #TYPE}.
     *
     * @param info what GET_HW_INFO reported
     * @return the decoded registers
     * @throws IllegalArgumentException when {@code info} is not SMMUv3 info or too short
     */
    public static Smmuv3HwInfo of(HwInfo info) {
        if (info.type() != TYPE || info.data().length < iommu_hw_info_arm_smmuv3.sizeof()) {
            throw new IllegalArgumentException("not ARM SMMUv3 info: type " + info.type() + ", " + info.data().length + " bytes");
        }
        // The binding's accessors want 4-byte alignment: copy into an int-aligned heap segment.
        MemorySegment a = MemorySegment.ofArray(new int[(int) (iommu_hw_info_arm_smmuv3.sizeof() / 4)]);
        a.copyFrom(MemorySegment.ofArray(info.data()).asSlice(0, a.byteSize()));
        int[] idr = new int[6];
        for (int i = 0; i < 6; i++) idr[i] = iommu_hw_info_arm_smmuv3.idr(a, i);
        return new Smmuv3HwInfo(iommu_hw_info_arm_smmuv3.flags(a), idr, iommu_hw_info_arm_smmuv3.iidr(a),
                iommu_hw_info_arm_smmuv3.aidr(a));
    }

    /**
     * One ID register.
     *
     * @param n 0 to 5
     * @return SMMU_IDRn
     * @throws ArrayIndexOutOfBoundsException for another n
     */
    public int idr(int n) {
        return idr[n];
    }

    /**
     * The six ID registers (a copy).
     *
     * @return SMMU_IDR0 to SMMU_IDR5
     */
    @Override
    public int[] idr() {
        return idr.clone();
    }

    private static int bits(int reg, int hi, int lo) {
        return (reg >>> lo) & ((1 << (hi - lo + 1)) - 1);
    }

    /**
     * IDR0.S1P: stage-1 translation (assume true if a nested page table can be made).
     *
     * @return true if implemented
     */
    public boolean stage1() {
        return bits(idr[0], 1, 1) != 0;
    }

    /**
     * IDR0.S2P: stage-2 translation.
     *
     * @return true if implemented
     */
    public boolean stage2() {
        return bits(idr[0], 0, 0) != 0;
    }

    /**
     * IDR0.TTF: translation table formats (2: AArch64, 3: AArch32 and AArch64).
     *
     * @return the field
     */
    public int translationTableFormats() {
        return bits(idr[0], 3, 2);
    }

    /**
     * IDR0.ASID16: 16-bit ASIDs (else 8-bit).
     *
     * @return true for 16-bit ASIDs
     */
    public boolean asid16() {
        return bits(idr[0], 12, 12) != 0;
    }

    /**
     * IDR0.CD2L: two-level context descriptor tables.
     *
     * @return true if supported
     */
    public boolean twoLevelCdTables() {
        return bits(idr[0], 19, 19) != 0;
    }

    /**
     * IDR0.TTENDIAN: table endianness (0: mixed, 2: little, 3: big).
     *
     * @return the field
     */
    public int tableEndianness() {
        return bits(idr[0], 22, 21);
    }

    /**
     * IDR0.STALL_MODEL (0: stall and terminate, 1: terminate only, 2: stall forced).
     *
     * @return the field
     */
    public int stallModel() {
        return bits(idr[0], 25, 24);
    }

    /**
     * IDR0.TERM_MODEL: a terminated transaction is always aborted (else it may be RAZ/WI).
     *
     * @return the bit
     */
    public boolean terminateAborts() {
        return bits(idr[0], 26, 26) != 0;
    }

    /**
     * IDR0.ST_LEVEL (0: linear stream table, 1: two-level).
     *
     * @return the field
     */
    public int streamTableLevels() {
        return bits(idr[0], 28, 27);
    }

    /**
     * IDR1.SIDSIZE: stream id width in bits.
     *
     * @return the width
     */
    public int streamIdBits() {
        return bits(idr[1], 5, 0);
    }

    /**
     * IDR1.SSIDSIZE: substream id width in bits (0: no substreams).
     *
     * @return the width
     */
    public int substreamIdBits() {
        return bits(idr[1], 10, 6);
    }

    /**
     * IDR1.CMDQS: log2 of the most command queue entries (bounds a tegra241 VCMDQ's length).
     *
     * @return the field
     */
    public int commandQueueLog2() {
        return bits(idr[1], 25, 21);
    }

    /**
     * IDR3.RIL: range invalidation (the NUM/SCALE/TG/TTL fields of TLBI commands).
     *
     * @return true if supported
     */
    public boolean rangeInvalidation() {
        return bits(idr[3], 10, 10) != 0;
    }

    /**
     * IDR3.BBML: break-before-make level supported.
     *
     * @return the field
     */
    public int bbml() {
        return bits(idr[3], 12, 11);
    }

    /**
     * IDR5.GRAN4K: 4 KiB translation granule.
     *
     * @return true if supported
     */
    public boolean granule4k() {
        return bits(idr[5], 4, 4) != 0;
    }

    /**
     * IDR5.GRAN16K: 16 KiB translation granule.
     *
     * @return true if supported
     */
    public boolean granule16k() {
        return bits(idr[5], 5, 5) != 0;
    }

    /**
     * IDR5.GRAN64K: 64 KiB translation granule.
     *
     * @return true if supported
     */
    public boolean granule64k() {
        return bits(idr[5], 6, 6) != 0;
    }

    /**
     * IDR5.DS: 52-bit addresses with 4 KiB and 16 KiB granules.
     *
     * @return true if supported
     */
    public boolean ds() {
        return bits(idr[5], 7, 7) != 0;
    }

    /**
     * IDR5.VAX: virtual address size (0: 48 bits, 1: 52 bits).
     *
     * @return the field
     */
    public int vax() {
        return bits(idr[5], 11, 10);
    }

    /**
     * IDR5.OAS: output address size code (5: 48 bits, 6: 52 bits).
     *
     * @return the field
     */
    public int outputAddressSize() {
        return bits(idr[5], 2, 0);
    }

    /**
     * The registers in hex and what the decoders read.
     *
     * @return e.g. {@code Smmuv3HwInfo[idr=[0x...], iidr=0x0, aidr=0x1, s1, s2, sid=16, ssid=0]}
     */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Smmuv3HwInfo[flags=0x").append(Integer.toHexString(flags)).append(", idr=[");
        for (int i = 0; i < 6; i++) b.append(i == 0 ? "" : ", ").append("0x").append(Integer.toHexString(idr[i]));
        return b.append("], iidr=0x").append(Integer.toHexString(iidr)).append(", aidr=0x").append(Integer.toHexString(aidr))
                .append(stage1() ? ", s1" : "").append(stage2() ? ", s2" : "").append(", sid=").append(streamIdBits())
                .append(", ssid=").append(substreamIdBits()).append(']').toString();
    }

    /**
     * Equal registers and flags.
     *
     * @param o another object
     * @return true for the same values
     */
    @Override
    public boolean equals(Object o) {
        return o instanceof Smmuv3HwInfo h && h.flags == flags && java.util.Arrays.equals(h.idr, idr) && h.iidr == iidr && h.aidr == aidr;
    }

    /**
     * A hash of the values.
     *
     * @return the hash
     */
    @Override
    public int hashCode() {
        return ((flags * 31 + java.util.Arrays.hashCode(idr)) * 31 + iidr) * 31 + aidr;
    }
}
