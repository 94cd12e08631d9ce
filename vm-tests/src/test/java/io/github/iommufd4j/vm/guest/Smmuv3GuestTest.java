package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwInfo;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.Smmuv3Command;
import io.github.iommufd4j.Smmuv3Event;
import io.github.iommufd4j.Smmuv3HwInfo;
import io.github.iommufd4j.Smmuv3Ste;
import io.github.iommufd4j.Tegra241CmdqvInfo;
import io.github.iommufd4j.Vdevice;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.VirtualEvents;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs in the arm64 guest (vm-tests/arm64): QEMU's SMMUv3 in nested mode, the kernel's real
 * arm-smmu-v3 driver and QEMU's edu device bound to vfio-pci. Stage 2 is the nesting parent
 * page table (IPA to the test's memory); stage 1 is built here as a guest OS would build it: a
 * context descriptor and 4 KiB-granule translation tables in IPA space (memory of this test
 * mapped into the nesting parent), referenced by the STE given to the nested page table.
 *
 * <p>edu (see EduDmaGuestTest): its buffer is at device address 0x40000. Skipped in the x86 guests.
 */
@io.github.iommufd4j.junit.RequiresIommufd(vfioDevice = "/dev/vfio/devices/vfio0")
class Smmuv3GuestTest {
    static final Path CDEV = Path.of("/dev/vfio/devices/vfio0");
    static final long PAGE = 4096, EDU_BUFFER = 0x40000;
    /** IPAs (stage-2 input): the CD and tables, and three data pages. */
    static final long IPA_TABLES = 0x20_0000, IPA_DATA = 0x40_0000;
    /** Device addresses (stage-1 input): two mapped pages, and one left unmapped. */
    static final long VA = 0x10_0000, VA_UNMAPPED = 0x18_0000;
    /** The edu device's stream id in the guest of the VMM this test plays. */
    static final int VSID = 0x8, ASID = 1;
    static final ValueLayout.OfLong LE64 = JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);

    Iommufd fd;
    VfioDevice edu;
    MemorySegment bar0;
    /** The CD and stage-1 tables of the last {@link #stage1} (the level-3 table is the fourth page). */
    MemorySegment tables;
    Arena arena = Arena.ofShared();

    @BeforeEach
    void open() throws Exception {
        fd = Iommufd.open(io.github.iommufd4j.Backend.NATIVE);
        edu = VfioDevice.open(fd, CDEV);
        assumeTrue(fd.hwInfo(edu.deviceId()).isArmSmmuv3(), "not behind an SMMUv3 (runs in the arm64 guest)");
        bar0 = EduDmaGuestTest.enable(edu, arena);
    }

    @AfterEach
    void close() {
        if (fd != null) fd.close();
        arena.close();
    }

    static boolean canwbsOption() throws Exception {
        return Files.readString(Path.of("/proc/cmdline")).contains("arm_smmu_v3.test_assume_canwbs=1");
    }

    @Test
    void hwInfoIsArmSmmuv3WithBothStages() throws Exception {
        HwInfo info = fd.hwInfo(edu.deviceId());
        Smmuv3HwInfo s = Smmuv3HwInfo.of(info);
        System.out.println("[smmuv3] " + info + " " + s);
        assertTrue(s.stage1(), "QEMU's SMMUv3 in nested mode has stage 1");
        assertTrue(s.stage2(), "and stage 2");
        assertEquals(2, s.translationTableFormats() & 2, "AArch64 tables");
        assertTrue(s.granule4k());
        assertTrue(s.streamIdBits() >= 8, s.toString());
        assertEquals(Smmuv3HwInfo.TYPE, fd.hwInfo(edu.deviceId(), Smmuv3HwInfo.TYPE).type());
        // No CMDQV extension on QEMU's SMMUv3: asking for its info type is refused.
        IommufdException e = assertThrows(IommufdException.class, () -> fd.hwInfo(edu.deviceId(), Tegra241CmdqvInfo.TYPE));
        assertEquals("EOPNOTSUPP", e.errnoName());
    }

    @Test
    void nestParentAttachAndDmaThroughStage2() throws Exception {
        Ioas ioas = fd.allocIoas();
        HwPagetable parent = fd.allocHwpt(edu.deviceId(), ioas, HwptFlag.NEST_PARENT);
        edu.attach(parent.id());
        MemorySegment ram = pattern(2);
        ioas.map(ram, 0x10_0000, Access.READ_WRITE);
        dma(0x10_0000, EDU_BUFFER, PAGE, false);
        dma(EDU_BUFFER, 0x10_0000 + PAGE, PAGE, true);
        assertEquals(-1L, ram.asSlice(0, PAGE).mismatch(ram.asSlice(PAGE, PAGE)), "data came back through stage 2");
    }

    @Test
    void viommuIsRefusedWithoutCanwbs() throws Exception {
        assumeTrue(!canwbsOption(), "runs in the guest booted without arm_smmu_v3.test_assume_canwbs=1");
        Ioas ioas = fd.allocIoas();
        HwPagetable parent = fd.allocHwpt(edu.deviceId(), ioas, HwptFlag.NEST_PARENT);
        // QEMU reports neither S2FWB nor the root complex's CANWBS: the driver offers no vIOMMU.
        IommufdException e = assertThrows(IommufdException.class,
                () -> fd.allocViommu(edu.deviceId(), parent, Smmuv3HwInfo.VIOMMU_TYPE, MemorySegment.NULL));
        assertEquals("EOPNOTSUPP", e.errnoName(), e.getMessage());
    }

    /** The nesting parent, a vIOMMU over it and the edu device's vDEVICE. */
    record Nesting(Ioas ioas, HwPagetable parent, Viommu viommu, Vdevice vdevice) {}

    Nesting nesting() throws Exception {
        assumeTrue(canwbsOption(), "needs the test-only boot option arm_smmu_v3.test_assume_canwbs=1");
        Ioas ioas = fd.allocIoas();
        HwPagetable parent = fd.allocHwpt(edu.deviceId(), ioas, HwptFlag.NEST_PARENT);
        Viommu viommu = fd.allocViommu(edu.deviceId(), parent, Smmuv3HwInfo.VIOMMU_TYPE, MemorySegment.NULL);
        Vdevice vdev = viommu.allocVdevice(edu.deviceId(), VSID);
        return new Nesting(ioas, parent, viommu, vdev);
    }

    @Test
    void viommuObjectRulesHoldOnTheRealDriver() throws Exception {
        Nesting n = nesting();
        // A vIOMMU needs a nesting parent; a plain paging HWPT is refused.
        HwPagetable plain = fd.allocHwpt(edu.deviceId(), n.ioas());
        assertEquals("EINVAL", assertThrows(IommufdException.class,
                () -> fd.allocViommu(edu.deviceId(), plain, Smmuv3HwInfo.VIOMMU_TYPE, MemorySegment.NULL)).errnoName());
        // One vDEVICE per device and vIOMMU, one vEVENTQ per type; the parent is held.
        assertEquals("EEXIST", assertThrows(IommufdException.class,
                () -> n.viommu().allocVdevice(edu.deviceId(), VSID + 1)).errnoName());
        n.viommu().allocEventQueue(Smmuv3Event.VEVENTQ_TYPE, 8);
        assertEquals("EEXIST", assertThrows(IommufdException.class,
                () -> n.viommu().allocEventQueue(Smmuv3Event.VEVENTQ_TYPE, 8)).errnoName());
        assertEquals("EBUSY", assertThrows(IommufdException.class, () -> fd.destroy(n.parent().id())).errnoName());
        // Closing the vIOMMU takes its vDEVICE and queue along; the parent can go after it.
        n.viommu().close();
        assertTrue(n.vdevice().isClosed());
        n.parent().close();
    }

    @Test
    void bypassSteTranslatesAsTheNestingParent() throws Exception {
        Nesting n = nesting();
        HwPagetable nested = n.viommu().allocNestedHwpt(edu.deviceId(), Smmuv3Ste.bypass());
        edu.attach(nested.id());
        MemorySegment ram = pattern(2);
        n.ioas().map(ram, 0x10_0000, Access.READ_WRITE);
        dma(0x10_0000, EDU_BUFFER, PAGE, false);
        dma(EDU_BUFFER, 0x10_0000 + PAGE, PAGE, true);
        assertEquals(-1L, ram.asSlice(0, PAGE).mismatch(ram.asSlice(PAGE, PAGE)));
    }

    @Test
    void steFieldsTheKernelDoesNotTakeAreRefusedWithEio() throws Exception {
        Nesting n = nesting();
        // Config=stage-2 translate (6) is the host's to choose, not the guest's.
        IommufdException e = assertThrows(IommufdException.class,
                () -> n.viommu().allocNestedHwpt(edu.deviceId(), new Smmuv3Ste(1 | 6 << 1, 0)));
        assertEquals("EIO", e.errnoName());
    }

    /**
     * Stage 1 as a guest builds it: in {@code tables} (IPA {@link #IPA_TABLES}) a context
     * descriptor, then level-1, -2 and -3 tables (T0SZ 25: 39-bit input, walk from level 1);
     * {@link #VA} maps to data page 0, {@code VA + PAGE} to data page 1.
     */
    static final class Stage1 {
        final MemorySegment tables;

        Stage1(MemorySegment tables, int ips) {
            this.tables = tables;
            tables.fill((byte) 0);
            long l1 = IPA_TABLES + PAGE, l2 = IPA_TABLES + 2 * PAGE, l3 = IPA_TABLES + 3 * PAGE;
            long cd0 = 25L                  // T0SZ
                    | 1L << 8 | 1L << 10    // IRGN0, ORGN0: write-back
                    | 3L << 12              // SH0: inner shareable
                    | 1L << 30              // EPD1: no TTB1 walks
                    | 1L << 31              // V
                    | (long) ips << 32      // IPS
                    | 1L << 41              // AA64
                    | 1L << 45 | 1L << 46   // R: record faults, A: abort on fault
                    | (long) ASID << 48;
            tables.set(LE64, 0, cd0);
            tables.set(LE64, 8, l1);        // TTB0
            tables.set(LE64, 24, 0xffL);    // MAIR: attribute 0 = normal write-back
            tables.set(LE64, PAGE + 8 * index(VA, 30), l2 | 3);       // level 1 -> level 2 table
            tables.set(LE64, 2 * PAGE + 8 * index(VA, 21), l3 | 3);   // level 2 -> level 3 table
            map(VA, IPA_DATA);
            map(VA + PAGE, IPA_DATA + PAGE);
        }

        static long index(long va, int shift) {
            return (va >>> shift) & 511;
        }

        /** A level-3 page: AF, inner shareable, read/write at any level, attribute 0. */
        void map(long va, long ipa) {
            tables.set(LE64, 3 * PAGE + 8 * index(va, 12), ipa | 3 | 1L << 6 | 3L << 8 | 1L << 10);
        }
    }

    /** Nesting with stage 1 translating {@link #VA}; returns the data memory (3 pages at IPA_DATA). */
    MemorySegment stage1(Nesting n) throws Exception {
        Smmuv3HwInfo info = Smmuv3HwInfo.of(fd.hwInfo(edu.deviceId()));
        tables = arena.allocate(4 * PAGE, PAGE);
        new Stage1(tables, Math.min(info.outputAddressSize(), 5));
        n.ioas().map(tables, IPA_TABLES, Access.READ_WRITE);
        MemorySegment data = pattern(3);
        n.ioas().map(data, IPA_DATA, Access.READ_WRITE);
        HwPagetable nested = n.viommu().allocNestedHwpt(edu.deviceId(), Smmuv3Ste.translate(IPA_TABLES));
        edu.attach(nested.id());
        return data;
    }

    @Test
    void stage1TranslateDmaThroughBothStages() throws Exception {
        Nesting n = nesting();
        MemorySegment data = stage1(n);
        data.asSlice(PAGE, PAGE).fill((byte) 0);
        dma(VA, EDU_BUFFER, PAGE, false);             // VA -> IPA_DATA -> data page 0
        dma(EDU_BUFFER, VA + PAGE, PAGE, true);       // into VA + PAGE -> data page 1
        assertEquals(-1L, data.asSlice(0, PAGE).mismatch(data.asSlice(PAGE, PAGE)),
                "the device's DMA went through the guest's stage-1 tables and the nesting parent");
    }

    @Test
    void invalidationAfterChangingAStage1Mapping() throws Exception {
        Nesting n = nesting();
        MemorySegment data = stage1(n);
        dma(VA, EDU_BUFFER, PAGE, false);             // the SMMU caches VA -> data page 0
        // Remap VA to data page 2 as a guest would: write the PTE, then TLBI_NH_VA + CFGI_CD.
        tables.set(LE64, 3 * PAGE + 8 * Stage1.index(VA, 12), (IPA_DATA + 2 * PAGE) | 3 | 1L << 6 | 3L << 8 | 1L << 10);
        int handled = n.viommu().invalidate(List.of(Smmuv3Command.tlbiNhVa(ASID, VA, true), Smmuv3Command.cfgiCd(VSID, 0, true)));
        assertEquals(2, handled);
        data.asSlice(PAGE, PAGE).fill((byte) 0);
        dma(VA, EDU_BUFFER, PAGE, false);             // now reads data page 2
        dma(EDU_BUFFER, VA + PAGE, PAGE, true);
        assertEquals(-1L, data.asSlice(2 * PAGE, PAGE).mismatch(data.asSlice(PAGE, PAGE)), "the new translation is used");
        assertNotEquals(-1L, data.asSlice(0, PAGE).mismatch(data.asSlice(PAGE, PAGE)));
        // A command the kernel does not forward (CMD_SYNC, 0x46) and an unknown virtual stream id: EIO.
        assertEquals("EIO", assertThrows(IommufdException.class,
                () -> n.viommu().invalidate(List.of(new Smmuv3Command(0x46, 0)))).errnoName());
        assertEquals("EIO", assertThrows(IommufdException.class,
                () -> n.viommu().invalidate(List.of(Smmuv3Command.cfgiCdAll(VSID + 1)))).errnoName());
        assertEquals(1, n.viommu().invalidate(List.of(Smmuv3Command.tlbiNhAll())));
    }

    @Test
    void stage1FaultIsDeliveredAsAVirtualEvent() throws Exception {
        Nesting n = nesting();
        EventQueue q = n.viommu().allocEventQueue(Smmuv3Event.VEVENTQ_TYPE, 64);
        stage1(n);
        dma(EDU_BUFFER, VA_UNMAPPED, PAGE, true);      // no stage-1 entry: F_TRANSLATION
        VirtualEvents batch = q.newBatch(16);
        assertTrue(q.readBlocking(batch, 20_000) > 0, "the stage-1 fault came to the vEVENTQ");
        assertFalse(batch.lossBefore(0));
        assertTranslationFault(Smmuv3Event.of(batch, 0));
    }

    @Test
    void faultPumpServesTheVirtualEventQueue() throws Exception {
        Nesting n = nesting();
        EventQueue q = n.viommu().allocEventQueue(Smmuv3Event.VEVENTQ_TYPE, 64);
        List<Smmuv3Event> seen = new CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicInteger lost = new java.util.concurrent.atomic.AtomicInteger();
        stage1(n);
        // The vEVENTQ next to a fault queue on one pump, as a VMM serves both (edu raises no IOPF,
        // so the fault queue stays empty and must simply not disturb the events).
        FaultQueue faults = fd.allocFaultQueue();
        FaultPump pump = FaultPump.start(List.of(faults), (queue, f, first, count, ticket) -> PageResponses.INVALID,
                List.of(q), (queue, events) -> {
            for (int i = 0; i < events.count(); i++) {
                if (events.isLostEvents(i)) lost.incrementAndGet(); else seen.add(Smmuv3Event.of(events, i));
            }
        }, 16, 1);
        try (pump) {
            // edu's DMA faults word by word: many events per page, some merged by the SMMU (MEV).
            // The first page overflows the SMMU's event queue and the vEVENTQ; what is checked is
            // that events keep coming after that. The second page's DMA waits until the guest
            // kernel has drained the first burst (the pump's count stays put), since a DMA fired
            // while the SMMU's queue is still full loses all its events in QEMU; it is repeated
            // (at most 3 times) only if a loaded host still let that happen.
            dma(EDU_BUFFER, VA_UNMAPPED, PAGE, true);
            awaitQuiet(pump, seen, VA_UNMAPPED);
            for (int attempt = 1; attempt <= 3 && seen.stream().noneMatch(e -> page(e) == VA_UNMAPPED + PAGE); attempt++) {
                dma(EDU_BUFFER, VA_UNMAPPED + PAGE, PAGE, true);
                awaitQuiet(pump, seen, VA_UNMAPPED + PAGE);
                System.out.println("[smmuv3] second page's DMA, attempt " + attempt);
            }
        }
        System.out.println("[smmuv3] the pump took " + pump.events() + " records (" + lost + " lost-events headers, " + pump.lossMarks() + " loss marks), first "
                + seen.get(0) + ", last " + seen.getLast());
        assertEquals(pump.events(), seen.size() + lost.get(), "every record the pump read reached the handler");
        assertEquals(0, pump.faults(), "no page fault came to the fault queue");
        assertEquals(0, pump.droppedQueues(), "both queues were served to the end");
        assertNull(pump.failure());
        assertTrue(seen.stream().anyMatch(e -> page(e) == VA_UNMAPPED + PAGE), "the second page's faults came too");
        assertTranslationFault(seen.get(0));
        for (Smmuv3Event e : seen) {
            assertEquals(Smmuv3Event.F_TRANSLATION, e.id(), e.toString());
            assertEquals(VSID, e.streamId());
            assertTrue(page(e) == VA_UNMAPPED || page(e) == VA_UNMAPPED + PAGE, e.toString());
        }
    }

    /** Waits (at most 20 s) until an event of {@code page} came and the pump's count stayed put for 500 ms. */
    static void awaitQuiet(FaultPump pump, List<Smmuv3Event> seen, long page) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        long last = -1, stableSince = System.nanoTime();
        while (System.nanoTime() < deadline) {
            long now = pump.events();
            if (now != last) {
                last = now;
                stableSince = System.nanoTime();
            } else if (System.nanoTime() - stableSince > 500_000_000L && seen.stream().anyMatch(e -> page(e) == page)) {
                return;
            }
            Thread.sleep(10);
        }
    }

    static long page(Smmuv3Event e) {
        return e.inputAddress() & ~(PAGE - 1);
    }

    static void assertTranslationFault(Smmuv3Event e) {
        System.out.println("[smmuv3] " + e);
        assertEquals(Smmuv3Event.F_TRANSLATION, e.id(), e.toString());
        assertEquals(VSID, e.streamId(), "the kernel put in the virtual stream id");
        assertEquals(VA_UNMAPPED, page(e));
        assertFalse(e.read(), "edu wrote");
        assertFalse(e.stage2(), "a stage-1 fault");
    }

    MemorySegment pattern(int pages) {
        MemorySegment ram = arena.allocate(pages * PAGE, PAGE);
        for (int i = 0; i < pages * PAGE; i++) ram.set(JAVA_BYTE, i, (byte) (i * 7 + 3 + i / PAGE * 11));
        return ram;
    }

    void dma(long src, long dst, long count, boolean toRam) throws InterruptedException {
        EduDmaGuestTest.dma(bar0, src, dst, count, toRam);
        assertEquals(0x010000ed, bar0.get(JAVA_INT, 0), "edu is alive");
    }
}
