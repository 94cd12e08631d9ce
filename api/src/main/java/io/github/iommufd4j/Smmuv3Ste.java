package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_arm_smmuv3;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The driver data of a nested SMMUv3 page table ({@code struct iommu_hwpt_arm_smmuv3},
 * {@link #DATA_TYPE}): the first two 64-bit words of the guest's stream table entry (STE). The
 * kernel takes V, Config, S1Fmt, S1ContextPtr and S1CDMax from word 0 and S1DSS, S1CIR, S1COR,
 * S1CSH, S1STALLD and EATS from word 1; any other bit gives EIO. Config selects abort, bypass
 * (translate as the nesting parent) or stage-1 translation through the guest's context
 * descriptor table at S1ContextPtr, an IPA the nesting parent translates.
 * {@snippet :
 * HwPagetable nested = viommu.allocNestedHwpt(deviceId, Smmuv3Ste.translate(cdTableIpa));
 * }
 *
 * @param word0 STE bits 63:0, as the guest wrote them
 * @param word1 STE bits 127:64
 */
public record Smmuv3Ste(long word0, long word1) {
    /** {@code IOMMU_HWPT_DATA_ARM_SMMUV3}. */
    public static final int DATA_TYPE = Uapi.IOMMU_HWPT_DATA_ARM_SMMUV3();
    /** STE.Config values the kernel takes: abort, bypass (stage 1 off), stage-1 translate. */
    public static final int CONFIG_ABORT = 0, CONFIG_BYPASS = 4, CONFIG_S1_TRANSLATE = 5;
    /** STE.S1DSS: what a transaction without substream id does (terminate, bypass, use CD 0). */
    public static final int S1DSS_TERMINATE = 0, S1DSS_BYPASS = 1, S1DSS_SSID0 = 2;
    /** STE.EATS: ATS translation requests aborted, or fully translated. */
    public static final int EATS_ABORT = 0, EATS_TRANSLATE = 1;
    /** STE.S1ContextPtr: bits 51:6 of the context descriptor table's IPA. */
    public static final long CONTEXT_PTR_MASK = 0x000f_ffff_ffff_ffc0L;
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * An invalid STE (V=0): the kernel installs an abort STE and the device's DMA is refused.
     *
     * @return STE words 0, 0
     */
    public static Smmuv3Ste invalid() {
        return new Smmuv3Ste(0, 0);
    }

    /**
     * A valid STE with Config=abort: every DMA of the device is aborted.
     *
     * @return the STE
     */
    public static Smmuv3Ste abort() {
        return new Smmuv3Ste(1L | (long) CONFIG_ABORT << 1, 0);
    }

    /**
     * A valid STE with Config=bypass: stage 1 off, the device's DMA translates as through the
     * nesting parent alone.
     *
     * @return the STE
     */
    public static Smmuv3Ste bypass() {
        return new Smmuv3Ste(1L | (long) CONFIG_BYPASS << 1, 0);
    }

    /**
     * A valid STE with Config=stage-1 translate and a linear table of one context descriptor
     * (S1Fmt=0, S1CDMax=0; transactions without a substream id use CD 0), write-back cacheable
     * inner shareable table walks (S1CIR=S1COR=1, S1CSH=3) and ATS aborted.
     *
     * @param cdTable the context descriptor table's IPA, 64-byte aligned, below 2^52
     * @return the STE
     * @throws IllegalArgumentException for an unaligned or too large address
     */
    public static Smmuv3Ste translate(long cdTable) {
        return translate(cdTable, 0, 0, 1L | 1L << 2 | 1L << 4 | 3L << 6);
    }

    /**
     * A valid stage-1 translate STE with every field given.
     *
     * @param cdTable the context descriptor table's IPA (S1ContextPtr), 64-byte aligned, below 2^52
     * @param s1Fmt   S1Fmt: 0 linear, 1 or 2 two-level tables
     * @param s1CdMax S1CDMax: log2 of the number of context descriptors (0 to 20)
     * @param word1   STE word 1 (S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS)
     * @return the STE
     * @throws IllegalArgumentException for a field out of range
     */
    public static Smmuv3Ste translate(long cdTable, int s1Fmt, int s1CdMax, long word1) {
        if ((cdTable & ~CONTEXT_PTR_MASK) != 0) throw new IllegalArgumentException("CD table IPA 0x" + Long.toHexString(cdTable));
        if (s1Fmt < 0 || s1Fmt > 3 || s1CdMax < 0 || s1CdMax > 31) {
            throw new IllegalArgumentException("S1Fmt " + s1Fmt + ", S1CDMax " + s1CdMax);
        }
        return new Smmuv3Ste(1L | (long) CONFIG_S1_TRANSLATE << 1 | (long) s1Fmt << 4 | cdTable | (long) s1CdMax << 59, word1);
    }

    /**
     * STE.V.
     *
     * @return true if valid
     */
    public boolean valid() {
        return (word0 & 1) != 0;
    }

    /**
     * STE.Config.
     *
     * @return e.g. {@link #CONFIG_S1_TRANSLATE}
     */
    public int config() {
        return (int) (word0 >>> 1) & 7;
    }

    /**
     * STE.S1ContextPtr: the context descriptor table's IPA.
     *
     * @return the address
     */
    public long contextPointer() {
        return word0 & CONTEXT_PTR_MASK;
    }

    /**
     * Writes the STE as {@code struct iommu_hwpt_arm_smmuv3} (little-endian) to native memory,
     * for {@link Viommu#allocNestedHwpt(int, int, MemorySegment, FaultQueue, HwptFlag...)}.
     *
     * @param allocator where the struct is allocated (e.g. an arena)
     * @return the struct
     */
    public MemorySegment toSegment(SegmentAllocator allocator) {
        MemorySegment s = allocator.allocate(iommu_hwpt_arm_smmuv3.layout());
        s.set(LE64, iommu_hwpt_arm_smmuv3.ste$offset(), word0);
        s.set(LE64, iommu_hwpt_arm_smmuv3.ste$offset() + 8, word1);
        return s;
    }

    /**
     * The two words in hex.
     *
     * @return e.g. {@code Smmuv3Ste[0x4000000b, 0xd5]}
     */
    @Override
    public String toString() {
        return "Smmuv3Ste[0x" + Long.toHexString(word0) + ", 0x" + Long.toHexString(word1) + "]";
    }
}
