package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_viommu_arm_smmuv3_invalidate;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * An SMMUv3 cache invalidation command the guest put on its command queue, forwarded through
 * {@link Viommu#invalidate(List)} ({@code struct iommu_viommu_arm_smmuv3_invalidate},
 * {@link #DATA_TYPE}). The kernel takes TLBI_NH_ALL, TLBI_NH_ASID, TLBI_NH_VA, TLBI_NH_VAA,
 * TLBI_NSNH_ALL, CFGI_CD, CFGI_CD_ALL and ATC_INV; it puts in the vIOMMU's VMID and replaces the
 * virtual stream id of CFGI and ATC commands by the physical one of the {@link Vdevice} that
 * carries it. Any other opcode, a field the SMMU does not implement, or an unknown virtual stream
 * id gives EIO. A VMM usually forwards the guest's raw words ({@link #Smmuv3Command(long, long)});
 * the factories build the common commands.
 *
 * @param word0 command bits 63:0 (opcode in bits 7:0)
 * @param word1 command bits 127:64
 */
public record Smmuv3Command(long word0, long word1) {
    /** {@code IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3}. */
    public static final int DATA_TYPE = Uapi.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3();
    /** Bytes per command (the entry length of the invalidation array). */
    public static final int BYTES = (int) iommu_viommu_arm_smmuv3_invalidate.sizeof();
    /** Opcodes (SMMUv3 command queue). */
    public static final int OP_CFGI_CD = 0x05, OP_CFGI_CD_ALL = 0x06, OP_TLBI_NH_ALL = 0x10, OP_TLBI_NH_ASID = 0x11,
            OP_TLBI_NH_VA = 0x12, OP_TLBI_NH_VAA = 0x13, OP_TLBI_NSNH_ALL = 0x30, OP_ATC_INV = 0x40;
    /** ATC_INV size code that invalidates the whole address space. */
    public static final int ATC_SIZE_ALL = 52;
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long PAGE_MASK = 0xffff_ffff_ffff_f000L;

    /**
     * The opcode.
     *
     * @return e.g. {@link #OP_TLBI_NH_VA}
     */
    public int opcode() {
        return (int) (word0 & 0xff);
    }

    /**
     * TLBI_NH_ALL: all stage-1 TLB entries of the vIOMMU's VMID.
     *
     * @return the command
     */
    public static Smmuv3Command tlbiNhAll() {
        return new Smmuv3Command(OP_TLBI_NH_ALL, 0);
    }

    /**
     * TLBI_NSNH_ALL: the kernel turns it into TLBI_NH_ALL of the vIOMMU's VMID.
     *
     * @return the command
     */
    public static Smmuv3Command tlbiNsnhAll() {
        return new Smmuv3Command(OP_TLBI_NSNH_ALL, 0);
    }

    /**
     * TLBI_NH_ASID: all stage-1 TLB entries of one ASID.
     *
     * @param asid the ASID of the guest's context descriptor (8 or 16 bits)
     * @return the command
     * @throws IllegalArgumentException for an ASID beyond 16 bits
     */
    public static Smmuv3Command tlbiNhAsid(int asid) {
        return new Smmuv3Command(OP_TLBI_NH_ASID | (long) checkAsid(asid) << 48, 0);
    }

    /**
     * TLBI_NH_VA: the stage-1 TLB entries of one page of one ASID (no range: NUM, SCALE, TG and
     * TTL are 0).
     *
     * @param asid    the ASID (8 or 16 bits)
     * @param address the input (virtual) address; bits 11:0 are ignored
     * @param leaf    true: only leaf entries (the walk caches stay)
     * @return the command
     * @throws IllegalArgumentException for an ASID beyond 16 bits
     */
    public static Smmuv3Command tlbiNhVa(int asid, long address, boolean leaf) {
        return new Smmuv3Command(OP_TLBI_NH_VA | (long) checkAsid(asid) << 48, (address & PAGE_MASK) | (leaf ? 1 : 0));
    }

    /**
     * TLBI_NH_VAA: the stage-1 TLB entries of one page, all ASIDs.
     *
     * @param address the input (virtual) address; bits 11:0 are ignored
     * @param leaf    true: only leaf entries
     * @return the command
     */
    public static Smmuv3Command tlbiNhVaa(long address, boolean leaf) {
        return new Smmuv3Command(OP_TLBI_NH_VAA, (address & PAGE_MASK) | (leaf ? 1 : 0));
    }

    /**
     * CFGI_CD: the cached context descriptor of a substream of a device.
     *
     * @param virtualStreamId the device's virtual stream id (its {@link Vdevice#virtId()})
     * @param substreamId     the substream id (0 without substreams)
     * @param leaf            true: only the CD, not the CD table's intermediate entries
     * @return the command
     * @throws IllegalArgumentException for a substream id beyond 20 bits
     */
    public static Smmuv3Command cfgiCd(int virtualStreamId, int substreamId, boolean leaf) {
        return new Smmuv3Command(OP_CFGI_CD | (long) checkSsid(substreamId) << 12 | (virtualStreamId & 0xffff_ffffL) << 32, leaf ? 1 : 0);
    }

    /**
     * CFGI_CD_ALL: all cached context descriptors of a device.
     *
     * @param virtualStreamId the device's virtual stream id
     * @return the command
     */
    public static Smmuv3Command cfgiCdAll(int virtualStreamId) {
        return new Smmuv3Command(OP_CFGI_CD_ALL | (virtualStreamId & 0xffff_ffffL) << 32, 0);
    }

    /**
     * ATC_INV without substream: the device's ATS translation cache for a naturally aligned range
     * of {@code 2^sizeCode} pages at {@code address} ({@link #ATC_SIZE_ALL}: everything). EIO on an
     * SMMU without ATS.
     *
     * @param virtualStreamId the device's virtual stream id
     * @param address         the range's address; bits 11:0 are ignored
     * @param sizeCode        log2 of the number of 4 KiB pages, 0 to {@link #ATC_SIZE_ALL}
     * @return the command
     * @throws IllegalArgumentException for a size code out of range
     */
    public static Smmuv3Command atcInv(int virtualStreamId, long address, int sizeCode) {
        if (sizeCode < 0 || sizeCode > ATC_SIZE_ALL) throw new IllegalArgumentException("ATC_INV size " + sizeCode);
        return new Smmuv3Command(OP_ATC_INV | (virtualStreamId & 0xffff_ffffL) << 32, (address & PAGE_MASK) | sizeCode);
    }

    private static int checkAsid(int asid) {
        if (asid < 0 || asid > 0xffff) throw new IllegalArgumentException("ASID " + asid);
        return asid;
    }

    private static int checkSsid(int ssid) {
        if (ssid < 0 || ssid > 0xfffff) throw new IllegalArgumentException("substream id " + ssid);
        return ssid;
    }

    /**
     * Writes commands as an array of {@code struct iommu_viommu_arm_smmuv3_invalidate}
     * (little-endian) to native memory.
     *
     * @param allocator where the array is allocated
     * @param commands  the commands, in order
     * @return the array, {@code BYTES * commands.size()} bytes
     */
    public static MemorySegment toSegment(SegmentAllocator allocator, List<Smmuv3Command> commands) {
        MemorySegment s = allocator.allocate((long) BYTES * Math.max(1, commands.size()), 8);
        long at = iommu_viommu_arm_smmuv3_invalidate.cmd$offset();
        for (Smmuv3Command c : commands) {
            s.set(LE64, at, c.word0);
            s.set(LE64, at + 8, c.word1);
            at += BYTES;
        }
        return s;
    }

    /**
     * The opcode and both words in hex.
     *
     * @return e.g. {@code Smmuv3Command[op=0x12, 0x1000012, 0x40001]}
     */
    @Override
    public String toString() {
        return "Smmuv3Command[op=0x" + Integer.toHexString(opcode()) + ", 0x" + Long.toHexString(word0) + ", 0x" + Long.toHexString(word1) + "]";
    }
}
