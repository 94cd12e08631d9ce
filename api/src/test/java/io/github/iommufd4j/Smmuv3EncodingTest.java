package io.github.iommufd4j;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The SMMUv3 UAPI data, host-side: GET_HW_INFO decoding, STE words, invalidation commands and
 * event records against the bit positions of the SMMUv3 specification and the fields the
 * kernel's arm-smmu-v3 driver lets user space set (expected values written out by hand).
 */
class Smmuv3EncodingTest {
    /** STRTAB_STE_0_NESTING_ALLOWED: V, Config, S1Fmt, S1ContextPtr, S1CDMax. */
    private static final long STE0_ALLOWED = 0xf80f_ffff_ffff_ffffL;
    /** STRTAB_STE_1_NESTING_ALLOWED: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS. */
    private static final long STE1_ALLOWED = 0x3800_00ffL;

    private static byte[] hwInfoBytes(int flags, int[] idr, int iidr, int aidr) {
        // struct iommu_hw_info_arm_smmuv3: flags, __reserved, idr[6], iidr, aidr (40 bytes)
        ByteBuffer b = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(flags).putInt(0);
        for (int r : idr) b.putInt(r);
        return b.putInt(iidr).putInt(aidr).array();
    }

    @Test
    void hwInfoDecodesTheIdRegistersAtTheirUapiOffsets() {
        // IDR0: ST_LEVEL=1, TERM_MODEL, STALL_MODEL=2, TTENDIAN=2, CD2L, ASID16, TTF=2, S1P, S2P
        int idr0 = 1 << 27 | 1 << 26 | 2 << 24 | 2 << 21 | 1 << 19 | 1 << 12 | 2 << 2 | 1 << 1 | 1;
        int idr1 = 7 << 21 | 16 << 6 | 16;            // CMDQS=7, SSIDSIZE=16, SIDSIZE=16
        int idr3 = 1 << 11 | 1 << 10;                 // BBML=1, RIL
        int idr5 = 1 << 10 | 1 << 7 | 1 << 6 | 1 << 4 | 5; // VAX=1, DS, GRAN64K, GRAN4K, OAS=48 bits
        HwInfo info = new HwInfo(Smmuv3HwInfo.TYPE, hwInfoBytes(1, new int[] {idr0, idr1, 0x22, idr3, 0x44, idr5}, 0x43b, 1), 0, 0);
        assertTrue(info.isArmSmmuv3());
        assertEquals(2, Smmuv3HwInfo.TYPE);
        Smmuv3HwInfo s = Smmuv3HwInfo.of(info);
        assertEquals(Smmuv3HwInfo.FLAG_ERRATA_REPEAT_TLBI_CFGI, s.flags());
        assertArrayEquals(new int[] {idr0, idr1, 0x22, idr3, 0x44, idr5}, s.idr());
        assertEquals(0x43b, s.iidr());
        assertEquals(1, s.aidr());
        assertTrue(s.stage1());
        assertTrue(s.stage2());
        assertEquals(2, s.translationTableFormats());
        assertTrue(s.asid16());
        assertTrue(s.twoLevelCdTables());
        assertEquals(2, s.tableEndianness());
        assertEquals(2, s.stallModel());
        assertTrue(s.terminateAborts());
        assertEquals(1, s.streamTableLevels());
        assertEquals(16, s.streamIdBits());
        assertEquals(16, s.substreamIdBits());
        assertEquals(7, s.commandQueueLog2());
        assertTrue(s.rangeInvalidation());
        assertEquals(1, s.bbml());
        assertTrue(s.granule4k());
        assertFalse(s.granule16k());
        assertTrue(s.granule64k());
        assertTrue(s.ds());
        assertEquals(1, s.vax());
        assertEquals(5, s.outputAddressSize());
        assertEquals(s, Smmuv3HwInfo.of(info));
        assertTrue(s.toString().contains("s1, s2, sid=16, ssid=16"), s.toString());
    }

    @Test
    void hwInfoOfAnotherTypeOrTooShortIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Smmuv3HwInfo.of(new HwInfo(1, new byte[40], 0, 0)));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3HwInfo.of(new HwInfo(Smmuv3HwInfo.TYPE, new byte[36], 0, 0)));
        assertThrows(IllegalArgumentException.class, () -> new Smmuv3HwInfo(0, new int[5], 0, 0));
    }

    @Test
    void tegra241CmdqvInfoDecodesItsBytes() {
        byte[] d = {0, 0, 0, 0, 1, 2, 5, 0};  // flags=0, version=1, log2vcmdqs=2, log2vsids=5
        Tegra241CmdqvInfo t = Tegra241CmdqvInfo.of(new HwInfo(Tegra241CmdqvInfo.TYPE, d, 0, 0));
        assertEquals(new Tegra241CmdqvInfo(0, 1, 2, 5), t);
        assertEquals(3, Tegra241CmdqvInfo.TYPE);
        assertEquals(2, Tegra241CmdqvInfo.VIOMMU_TYPE);
        assertEquals(1, Tegra241CmdqvInfo.HW_QUEUE_TYPE);
        assertThrows(IllegalArgumentException.class, () -> Tegra241CmdqvInfo.of(new HwInfo(Smmuv3HwInfo.TYPE, d, 0, 0)));
    }

    @Test
    void steWordsCarryOnlyTheFieldsTheKernelTakes() {
        assertEquals(new Smmuv3Ste(0x1, 0), Smmuv3Ste.abort());
        assertEquals(new Smmuv3Ste(0x9, 0), Smmuv3Ste.bypass());
        Smmuv3Ste t = Smmuv3Ste.translate(0x4000_0040L);
        assertEquals(0x4000_004bL, t.word0());      // V | Config=5 << 1 | S1ContextPtr
        assertEquals(0xd5L, t.word1());             // S1CIR=1, S1COR=1, S1CSH=3, S1DSS=1
        assertTrue(t.valid());
        assertEquals(Smmuv3Ste.CONFIG_S1_TRANSLATE, t.config());
        assertEquals(0x4000_0040L, t.contextPointer());
        Smmuv3Ste full = Smmuv3Ste.translate(0x000f_ffff_ffff_ffc0L, 2, 31, 0x3800_00ffL);
        for (Smmuv3Ste s : List.of(Smmuv3Ste.invalid(), Smmuv3Ste.abort(), Smmuv3Ste.bypass(), t, full)) {
            assertEquals(0, s.word0() & ~STE0_ALLOWED, s.toString());
            assertEquals(0, s.word1() & ~STE1_ALLOWED, s.toString());
        }
        assertEquals(0xf80f_ffff_ffff_ffebL, full.word0());
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Ste.translate(0x1020));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Ste.translate(1L << 52));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Ste.translate(0, 4, 0, 0));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = t.toSegment(arena);
            assertEquals(16, s.byteSize());
            assertEquals(0x4b, s.get(JAVA_BYTE, 0));
            assertEquals(0x40, s.get(JAVA_BYTE, 3));
            assertEquals((byte) 0xd5, s.get(JAVA_BYTE, 8));
        }
        assertEquals(2, Smmuv3Ste.DATA_TYPE);
    }

    @Test
    void invalidationCommandsAreEncodedAsTheSmmuCommandQueueHasThem() {
        assertEquals(new Smmuv3Command(0x10, 0), Smmuv3Command.tlbiNhAll());
        assertEquals(new Smmuv3Command(0x30, 0), Smmuv3Command.tlbiNsnhAll());
        assertEquals(new Smmuv3Command(0x0003_0000_0000_0011L, 0), Smmuv3Command.tlbiNhAsid(3));
        assertEquals(new Smmuv3Command(0x0003_0000_0000_0012L, 0x1234_5001L), Smmuv3Command.tlbiNhVa(3, 0x1234_5678L, true));
        assertEquals(new Smmuv3Command(0x13, 0x1234_5000L), Smmuv3Command.tlbiNhVaa(0x1234_5000L, false));
        assertEquals(new Smmuv3Command(0x0000_0008_0000_0005L, 1), Smmuv3Command.cfgiCd(8, 0, true));
        assertEquals(new Smmuv3Command(0x0000_0008_0000_7005L, 0), Smmuv3Command.cfgiCd(8, 7, false));
        assertEquals(new Smmuv3Command(0x0000_0008_0000_0006L, 0), Smmuv3Command.cfgiCdAll(8));
        assertEquals(new Smmuv3Command(0x0000_0008_0000_0040L, 0x5000 | 52), Smmuv3Command.atcInv(8, 0x5000, Smmuv3Command.ATC_SIZE_ALL));
        assertEquals(0x12, Smmuv3Command.tlbiNhVa(1, 0, false).opcode());
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Command.tlbiNhAsid(0x10000));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Command.cfgiCd(1, 1 << 20, false));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Command.atcInv(1, 0, 53));
        assertEquals(16, Smmuv3Command.BYTES);
        assertEquals(1, Smmuv3Command.DATA_TYPE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = Smmuv3Command.toSegment(arena, List.of(Smmuv3Command.cfgiCd(8, 0, true), Smmuv3Command.tlbiNhAll()));
            assertEquals(32, s.byteSize());
            ByteBuffer b = s.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(0x0000_0008_0000_0005L, b.getLong(0));
            assertEquals(1, b.getLong(8));
            assertEquals(0x10, b.getLong(16));
            assertEquals(0, b.getLong(24));
        }
    }

    @Test
    void eventRecordsAreDecodedFromAVirtualEventsBatch() {
        VirtualEvents batch = new VirtualEvents(2, Smmuv3Event.BYTES);
        MemorySegment buf = batch.buffer();
        // header {flags=0, seq=5}, then evt[4]: F_TRANSLATION, vSID 8, SSV=0; RnW, CLASS=1; address; fetch address
        buf.set(JAVA_INT_UNALIGNED, 0, 0);
        buf.set(JAVA_INT_UNALIGNED, 4, 5);
        buf.set(JAVA_LONG_UNALIGNED, 8, 0x0000_0008_0000_0010L);
        buf.set(JAVA_LONG_UNALIGNED, 16, 1L << 35 | 1L << 40);
        buf.set(JAVA_LONG_UNALIGNED, 24, 0x7_0000_1234L);
        buf.set(JAVA_LONG_UNALIGNED, 32, 0x8000_1008L);
        assertEquals(1, batch.parse(8 + Smmuv3Event.BYTES));
        Smmuv3Event e = Smmuv3Event.of(batch, 0);
        assertEquals(Smmuv3Event.F_TRANSLATION, e.id());
        assertEquals(8, e.streamId());
        assertFalse(e.substreamValid());
        assertTrue(e.read());
        assertFalse(e.stage2());
        assertFalse(e.stall());
        assertEquals(1, e.faultClass());
        assertEquals(0x7_0000_1234L, e.inputAddress());
        assertEquals(0x8000_1008L, e.ipaOrFetchAddress());
        assertEquals(32, Smmuv3Event.BYTES);
        assertEquals(1, Smmuv3Event.VEVENTQ_TYPE);
        assertEquals(Smmuv3Event.BYTES, EventQueue.payloadSize(Smmuv3Event.VEVENTQ_TYPE));
        assertEquals(e, new Smmuv3Event(e.words()));
        assertThrows(IllegalArgumentException.class, () -> Smmuv3Event.of(new VirtualEvents(1, 16), 0));
        assertThrows(IndexOutOfBoundsException.class, () -> Smmuv3Event.of(batch, 1));
    }
}
