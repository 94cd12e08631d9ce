package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.HwInfo;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.VfioDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs inside a guest with a vIOMMU and QEMU's {@code edu} device bound to vfio-pci: real DMA
 * from a Java MemorySegment through the vIOMMU and back. Skipped anywhere else (@RequiresIommufd).
 *
 * <p>edu: BAR0 register 0x00 = 0x010000ed (id), 0x04 = ~value written (liveness), DMA source
 * 0x80, destination 0x88, count 0x90, command 0x98 (bit 0 start, bit 1 device→RAM); its buffer
 * is at device address 0x40000 (4 KiB). Its DMA mask is 28 bits.
 */
@io.github.iommufd4j.junit.RequiresIommufd(vfioDevice = "/dev/vfio/devices/vfio0")
class EduDmaGuestTest {
    static final Path CDEV = Path.of("/dev/vfio/devices/vfio0");
    static final long EDU_BUFFER = 0x40000, IOVA = 0x100000, PAGE = 4096;
    Iommufd fd;
    VfioDevice edu;
    MemorySegment bar0;
    Arena arena = Arena.ofShared();

    @BeforeEach
    void openEdu() throws Exception {
        fd = Iommufd.open(io.github.iommufd4j.Backend.NATIVE);
        edu = VfioDevice.open(fd, CDEV);
        bar0 = enable(edu, arena);
    }

    /** Maps BAR0 and enables memory space and bus mastering (PCI command register, offset 4). */
    static MemorySegment enable(VfioDevice edu, Arena arena) throws IommufdException {
        VfioDevice.Region r = edu.region(0);
        assertTrue(r.mmappable(), "BAR0 can be mapped");
        MemorySegment bar0 = edu.mmap(r);
        VfioDevice.Region config = edu.configSpace();
        MemorySegment cmd = arena.allocate(2);
        edu.read(config, 4, cmd);
        cmd.set(JAVA_SHORT, 0, (short) (cmd.get(JAVA_SHORT, 0) | 0x6));
        edu.write(config, 4, cmd);
        return bar0;
    }

    @AfterEach
    void close() {
        if (fd != null) fd.close();
        arena.close();
    }

    @Test
    void eduIsAVfioPciDeviceWithTheEduIdentity() throws Exception {
        assertTrue(edu.info().isPci());
        assertEquals(0x010000ed, bar0.get(JAVA_INT, 0));
        bar0.set(JAVA_INT, 4, 0x12345678);
        assertEquals(~0x12345678, bar0.get(JAVA_INT, 4));
        MemorySegment id = arena.allocate(4);
        edu.read(edu.configSpace(), 0, id);
        assertEquals(0x11e81234, id.get(JAVA_INT, 0), "vendor 1234, device 11e8");
        // edu has an INTx pin and MSI (VFIO_PCI_INTX_IRQ_INDEX 0, VFIO_PCI_MSI_IRQ_INDEX 1).
        assertEquals(1, edu.irqInfo(0).count());
        assertTrue(edu.irqInfo(1).count() >= 1);
    }

    @Test
    void hwInfoDescribesTheVirtualIommu() throws Exception {
        HwInfo info = fd.hwInfo(edu.deviceId());
        if ("intel".equals(System.getenv("IOMMUFD4J_PROFILE")) || "intel-sm".equals(System.getenv("IOMMUFD4J_PROFILE"))) {
            assertTrue(info.isIntelVtd(), info.toString());
            assertNotEquals(0, info.vtdCapReg());
        } else if ("virtio".equals(System.getenv("IOMMUFD4J_PROFILE"))) {
            assertEquals(0, info.type(), "virtio-iommu reports IOMMU_HW_INFO_TYPE_NONE: " + info);
        }
    }

    @Test
    void dmaRoundTripThroughTheIommu() throws Exception {
        Ioas ioas = fd.allocIoas();
        edu.attach(ioas.id());
        MemorySegment ram = arena.allocate(2 * PAGE, PAGE);
        for (int i = 0; i < PAGE; i++) ram.set(JAVA_BYTE, i, (byte) (i * 7 + 3));
        ioas.map(ram, IOVA, Access.READ_WRITE);

        dma(IOVA, EDU_BUFFER, PAGE, false);          // RAM -> device
        dma(EDU_BUFFER, IOVA + PAGE, PAGE, true);    // device -> RAM, into the second page
        assertEquals(-1L, ram.asSlice(0, PAGE).mismatch(ram.asSlice(PAGE, PAGE)), "data came back through the IOMMU");
    }

    @Test
    void dmaToAnUnmappedIovaDoesNotTouchMemory() throws Exception {
        Ioas ioas = fd.allocIoas();
        edu.attach(ioas.id());
        MemorySegment ram = arena.allocate(PAGE, PAGE);
        ram.fill((byte) 0x11);
        ioas.map(ram, IOVA, Access.READ_WRITE);
        dma(IOVA, EDU_BUFFER, PAGE, false);
        ioas.unmap(IOVA, PAGE);
        ram.fill((byte) 0x22);
        dma(EDU_BUFFER, IOVA, PAGE, true); // blocked by the IOMMU: a DMA fault, not a write
        for (int i = 0; i < PAGE; i++) assertEquals(0x22, ram.get(JAVA_BYTE, i));
    }

    @Test
    void readOnlyMappingIsNotWrittenByTheDevice() throws Exception {
        Ioas ioas = fd.allocIoas();
        edu.attach(ioas.id());
        MemorySegment ram = arena.allocate(PAGE, PAGE);
        ram.fill((byte) 0x33);
        ioas.map(ram, IOVA, Access.READ);
        dma(IOVA, EDU_BUFFER, PAGE, false); // reading is allowed
        bar0.set(JAVA_INT, 0x04, 0); // touch a register to make sure the device is alive
        dma(EDU_BUFFER, IOVA, PAGE, true);  // writing is refused by the IOMMU
        for (int i = 0; i < PAGE; i++) assertEquals(0x33, ram.get(JAVA_BYTE, i));
    }

    @Test
    void detachedDeviceCanBeReattachedAndReset() throws Exception {
        Ioas ioas = fd.allocIoas();
        edu.attach(ioas.id());
        assertThrows(IommufdException.class, () -> fd.destroy(ioas.id()), "an attached IOAS is busy");
        edu.detach();
        edu.attach(ioas.id());
        if (edu.info().canReset()) {
            edu.reset();
        } else {
            // edu has no FLR or PM reset: VFIO refuses with EINVAL, a typed error, not a crash.
            assertEquals("EINVAL", assertThrows(IommufdException.class, edu::reset).errnoName());
        }
        assertEquals(0x010000ed, bar0.get(JAVA_INT, 0));
    }

    private void dma(long src, long dst, long count, boolean toRam) throws InterruptedException {
        dma(bar0, src, dst, count, toRam);
    }

    /** One edu DMA: {@code count} bytes from {@code src} to {@code dst}, toward RAM or toward the device. */
    static void dma(MemorySegment bar0, long src, long dst, long count, boolean toRam) throws InterruptedException {
        bar0.set(JAVA_LONG, 0x80, src);
        bar0.set(JAVA_LONG, 0x88, dst);
        bar0.set(JAVA_LONG, 0x90, count);
        bar0.set(JAVA_LONG, 0x98, toRam ? 3 : 1);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while ((bar0.get(JAVA_LONG, 0x98) & 1) != 0) {
            assertTrue(System.nanoTime() < deadline, "edu DMA did not finish");
            Thread.sleep(1);
        }
    }
}
