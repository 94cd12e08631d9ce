package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.IovaRange;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.VfioCompat;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_map;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_unmap;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_info;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The VFIO type1 container ioctls iommufd answers on its own fd ({@code vfio_compat.c},
 * docs/kernel-behaviour.md §3.8): API version, extensions, SET_IOMMU, MAP_DMA, UNMAP_DMA and
 * GET_INFO with its capability chain, on the compat IOAS.
 */
class VfioCompatContractTest extends ContractTestBase {
    /** An IOVA inside the mock domain's aperture. */
    static final long X = MockDriver.APERTURE_START;
    VfioCompat vfio;

    @BeforeEach
    void vfio() {
        vfio = fd.vfioCompat();
    }

    /** A new IOAS made the compat one. */
    Ioas compat() throws IommufdException {
        Ioas ioas = fd.allocIoas();
        fd.setVfioCompatIoas(ioas);
        return ioas;
    }

    /** Linux 6.13 and later (7.3 here) have the vIOMMU commands; 6.12 does not. */
    boolean linux7() {
        return fd.supports(Command.VIOMMU_ALLOC);
    }

    MemorySegment struct(long size, int argsz) {
        MemorySegment s = arena.allocate(size, 8);
        s.set(ValueLayout.JAVA_INT, 0, argsz);
        return s;
    }

    // ---- API version, extensions ----

    @Test
    void apiVersionIsZero() throws Exception {
        assertEquals(0, vfio.apiVersion());
        assertEquals(VfioCompat.API_VERSION, vfio.apiVersion());
    }

    @Test
    void type1Type1v2AndUnmapAllAreSupportedWithoutACompatIoas() throws Exception {
        assertEquals(1, vfio.checkExtension(VfioCompat.TYPE1_IOMMU));
        assertEquals(1, vfio.checkExtension(VfioCompat.TYPE1v2_IOMMU));
        assertEquals(1, vfio.checkExtension(VfioCompat.UNMAP_ALL));
    }

    @Test
    void noIommuUpdateVaddrAndOtherExtensionsAreZero() throws Exception {
        assertEquals(0, vfio.checkExtension(VfioCompat.NOIOMMU_IOMMU)); // CONFIG_VFIO_NOIOMMU off
        assertEquals(0, vfio.checkExtension(VfioCompat.UPDATE_VADDR));
        for (long other : new long[] {0, Uapi.VFIO_SPAPR_TCE_IOMMU(), Uapi.VFIO_EEH(), 6 /* TYPE1_NESTING */,
                Uapi.VFIO_SPAPR_TCE_v2_IOMMU(), 11, 1000, (1L << 32) | 1}) {
            assertEquals(0, vfio.checkExtension(other), "extension " + other);
        }
    }

    @Test
    void dmaCcIommuNeedsACompatIoasAndIsOneWhileItHasNoPageTable() throws Exception {
        assertErrno("ENODEV", () -> vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
        compat();
        assertEquals(1, vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
    }

    @Test
    void dmaCcIommuIsZeroOnceAMockDomainIsOnTheCompatIoas() throws Exception {
        requireMock();
        Ioas ioas = compat();
        MockDevice dev = mock.addDevice(ioas); // the mock never enforces cache coherency
        assertEquals(0, vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
        dev.close(); // its auto domain goes with it
        assertEquals(1, vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
    }

    @Test
    void dmaCcIommuCountsAnUnattachedPageTableToo() throws Exception {
        requireMock();
        Ioas other = fd.allocIoas(), ioas = compat();
        MockDevice dev = mock.addDevice(other);
        HwPagetable h = fd.allocHwpt(dev.deviceId(), ioas);
        assertEquals(0, vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
        h.close();
        assertEquals(1, vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
    }

    @Test
    void aDestroyedCompatIoasIsNoCompatIoas() throws Exception {
        Ioas ioas = compat();
        ioas.close();
        assertErrno("ENODEV", () -> vfio.checkExtension(VfioCompat.DMA_CC_IOMMU));
        assertErrno("ENODEV", () -> vfio.mapDma(buffer(PAGE), 0x1000, Access.READ));
        assertErrno("ENODEV", () -> fd.vfioCompatIoas());
    }

    // ---- SET_IOMMU ----

    @Test
    void setIommuOfAnotherTypeIsEINVALBeforeTheCompatIoasIsLookedUp() throws Exception {
        for (long type : new long[] {0, Uapi.VFIO_SPAPR_TCE_IOMMU(), VfioCompat.NOIOMMU_IOMMU, VfioCompat.UNMAP_ALL, (1L << 32) | 1}) {
            assertErrno("EINVAL", () -> vfio.setIommu(type));
        }
        assertErrno("ENODEV", () -> vfio.setIommu(VfioCompat.TYPE1_IOMMU));
        assertErrno("ENODEV", () -> vfio.setIommu(VfioCompat.TYPE1v2_IOMMU));
        compat();
        assertErrno("EINVAL", () -> vfio.setIommu(VfioCompat.NOIOMMU_IOMMU));
    }

    @Test
    void type1TurnsHugePagesOffAndType1v2LeavesThemAsTheyAre() throws Exception {
        Ioas ioas = compat();
        vfio.setIommu(VfioCompat.TYPE1v2_IOMMU);
        assertTrue(ioas.hugePages());
        assertEquals(1, ioas.iovaRanges().alignment());
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        assertFalse(ioas.hugePages());
        assertEquals(PAGE, ioas.iovaRanges().alignment());
        vfio.setIommu(VfioCompat.TYPE1_IOMMU); // again: nothing to do
        vfio.setIommu(VfioCompat.TYPE1v2_IOMMU); // does not turn them back on
        assertFalse(ioas.hugePages());
    }

    @Test
    void type1WithMappingsButNoDomainSucceeds() throws Exception {
        Ioas ioas = compat();
        vfio.mapDma(buffer(2 * PAGE), 0x100000, Access.READ_WRITE);
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        assertFalse(ioas.hugePages());
    }

    @Test
    void type1OverAMappingNotOnWholePagesIsEADDRINUSE() throws Exception {
        Ioas ioas = compat();
        vfio.mapDma(buffer(PAGE).asSlice(0x800, 0x800), 0x100800, Access.READ); // alignment 1 without a domain
        assertErrno("EADDRINUSE", () -> vfio.setIommu(VfioCompat.TYPE1_IOMMU)); // PAGE_SIZE alignment would break it
        assertTrue(ioas.hugePages());
        assertEquals(0x800, vfio.unmapAll());
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
    }

    @Test
    void type1OnceADomainHoldsMappingsIsEINVAL() throws Exception {
        requireMock();
        Ioas ioas = compat();
        mock.addDevice(ioas);
        vfio.setIommu(VfioCompat.TYPE1v2_IOMMU);
        vfio.mapDma(buffer(PAGE), X, Access.READ_WRITE);
        assertErrno("EINVAL", () -> vfio.setIommu(VfioCompat.TYPE1_IOMMU));
        assertTrue(ioas.hugePages());
        assertEquals(PAGE, vfio.unmapDma(X, PAGE));
        vfio.setIommu(VfioCompat.TYPE1_IOMMU); // a domain without mappings is fine
        assertFalse(ioas.hugePages());
    }

    // ---- MAP_DMA ----

    @Test
    void mapDmaChecksArgszAndFlagsBeforeTheCompatIoas() throws Exception {
        MemorySegment m = buffer(PAGE);
        assertErrno("EINVAL", () -> vfio.mapDma(m, 0x1000, 4)); // VFIO_DMA_MAP_FLAG_VADDR: not supported
        assertErrno("EINVAL", () -> vfio.mapDma(m, 0x1000, 1 << 31));
        MemorySegment s = struct(vfio_iommu_type1_dma_map.sizeof(), 31);
        vfio_iommu_type1_dma_map.flags(s, VfioCompat.MAP_READ);
        vfio_iommu_type1_dma_map.vaddr(s, m.address());
        vfio_iommu_type1_dma_map.iova(s, 0x1000);
        vfio_iommu_type1_dma_map.size(s, PAGE);
        assertErrno("EINVAL", () -> fd.ioctl(Uapi.VFIO_IOMMU_MAP_DMA(), s));
        vfio_iommu_type1_dma_map.argsz(s, 32);
        assertErrno("ENODEV", () -> fd.ioctl(Uapi.VFIO_IOMMU_MAP_DMA(), s));
        assertErrno("ENODEV", () -> vfio.mapDma(m, 0x1000, 0));
    }

    @Test
    void mapDmaMapsAtTheFixedIovaOfTheCompatIoasWhichIoasUnmapSees() throws Exception {
        Ioas ioas = compat();
        vfio.mapDma(buffer(4 * PAGE), 0x200000, Access.READ_WRITE);
        vfio.mapDma(buffer(PAGE), 0, Access.READ); // IOVA 0 too
        assertErrno("EEXIST", () -> vfio.mapDma(buffer(PAGE), 0x203000, Access.READ));
        assertEquals(4 * PAGE, ioas.unmap(0x200000, 4 * PAGE));
        assertEquals(PAGE, vfio.unmapAll());
    }

    @Test
    void mapDmaOfZeroSizeIsEINVAL() throws Exception {
        compat();
        MemorySegment m = buffer(PAGE);
        MemorySegment s = struct(vfio_iommu_type1_dma_map.sizeof(), 32);
        vfio_iommu_type1_dma_map.flags(s, VfioCompat.MAP_READ);
        vfio_iommu_type1_dma_map.vaddr(s, m.address());
        vfio_iommu_type1_dma_map.iova(s, 0x1000);
        assertErrno("EINVAL", () -> fd.ioctl(Uapi.VFIO_IOMMU_MAP_DMA(), s));
        vfio_iommu_type1_dma_map.size(s, -PAGE); // vaddr + size overflows (7.3 checks that first; 6.12 the size)
        assertErrno(linux7() ? "EOVERFLOW" : "EINVAL", () -> fd.ioctl(Uapi.VFIO_IOMMU_MAP_DMA(), s));
    }

    @Test
    void mapDmaWithAMockDomainMustBeAlignedAndInsideTheAperture() throws Exception {
        requireMock();
        Ioas ioas = compat();
        mock.addDevice(ioas);
        assertErrno("EINVAL", () -> vfio.mapDma(buffer(PAGE), 0x100000, Access.READ)); // below the aperture
        assertErrno("EINVAL", () -> vfio.mapDma(buffer(PAGE), X + 0x400, Access.READ)); // 2 KiB IO pages
        vfio.mapDma(buffer(PAGE), X + 0x800, Access.READ);
        vfio.setIommu(VfioCompat.TYPE1v2_IOMMU);
        assertEquals(PAGE, vfio.unmapAll());
        vfio.setIommu(VfioCompat.TYPE1_IOMMU); // TYPE1: whole CPU pages
        assertErrno("EINVAL", () -> vfio.mapDma(buffer(PAGE), X + 0x800, Access.READ));
    }

    @Test
    void mapDmaPermissionsAreWhatAnAccessMayDo() throws Exception {
        requireMock();
        Ioas ioas = compat();
        MemorySegment r = buffer(PAGE), w = buffer(PAGE), rw = buffer(PAGE);
        vfio.mapDma(r, 0x100000, VfioCompat.MAP_READ);
        vfio.mapDma(w, 0x200000, VfioCompat.MAP_WRITE);
        vfio.mapDma(rw, 0x300000, VfioCompat.MAP_READ | VfioCompat.MAP_WRITE);
        r.set(ValueLayout.JAVA_BYTE, 5, (byte) 42);
        MemorySegment one = arena.allocate(8);
        try (MockAccess access = mock.createAccess(ioas, false)) {
            access.rw(0x100000, one, false);
            assertEquals(42, one.get(ValueLayout.JAVA_BYTE, 5));
            assertErrno("EPERM", () -> access.rw(0x100000, one, true));
            assertErrno("EPERM", () -> access.rw(0x200000, one, false));
            access.rw(0x200000, one, true);
            assertEquals(42, w.get(ValueLayout.JAVA_BYTE, 5));
            access.rw(0x300000 + 8, one, true);
            access.rw(0x300000 + 8, one, false);
            assertEquals(42, rw.get(ValueLayout.JAVA_BYTE, 13));
        }
    }

    @Test
    void mapDmaWithoutFlagsMakesAMappingNoDeviceMayUse() throws Exception {
        requireMock();
        Ioas ioas = compat();
        vfio.mapDma(buffer(2 * PAGE), 0x100000, 0); // accepted, unlike IOAS_MAP without READ/WRITE
        assertErrno("EEXIST", () -> vfio.mapDma(buffer(PAGE), 0x101000, Access.READ));
        try (MockAccess access = mock.createAccess(ioas, false)) {
            assertErrno("EPERM", () -> access.rw(0x100000, arena.allocate(8), false));
            assertErrno("EPERM", () -> access.rw(0x101000, arena.allocate(8), true));
        }
        assertEquals(2 * PAGE, ioas.unmap(0x100000, 2 * PAGE));
    }

    @Test
    void aMappingWithoutFlagsAndAMockDomainWorkOn612ButNotOn73() throws Exception {
        requireMock();
        Ioas ioas = compat();
        vfio.mapDma(buffer(PAGE), X, 0);
        // 7.3's mock uses the generic page table, whose map refuses (and WARNs about) no permission
        if (linux7()) {
            assertErrno("EINVAL", () -> mock.addDevice(ioas));
            assertEquals(PAGE, vfio.unmapAll());
            mock.addDevice(ioas);
            assertErrno("EINVAL", () -> vfio.mapDma(buffer(PAGE), X, 0));
            vfio.mapDma(buffer(PAGE), X, Access.READ); // the failed map left nothing behind
        } else {
            mock.addDevice(ioas);
            vfio.mapDma(buffer(PAGE), X + PAGE, 0);
            assertEquals(2 * PAGE, vfio.unmapAll());
        }
    }

    // ---- UNMAP_DMA ----

    @Test
    void unmapDmaChecksArgszAndFlagsBeforeTheCompatIoas() throws Exception {
        assertErrno("EINVAL", () -> vfio.unmapDma(0x1000, PAGE, Uapi.VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP()));
        assertErrno("EINVAL", () -> vfio.unmapDma(0x1000, PAGE, Uapi.VFIO_DMA_UNMAP_FLAG_VADDR()));
        assertErrno("EINVAL", () -> vfio.unmapDma(0, 0, VfioCompat.UNMAP_FLAG_ALL | 1));
        MemorySegment s = struct(vfio_iommu_type1_dma_unmap.sizeof(), 23);
        vfio_iommu_type1_dma_unmap.iova(s, 0x1000);
        vfio_iommu_type1_dma_unmap.size(s, PAGE);
        assertErrno("EINVAL", () -> fd.ioctl(Uapi.VFIO_IOMMU_UNMAP_DMA(), s));
        assertErrno("ENODEV", () -> vfio.unmapDma(0x1000, PAGE));
        assertErrno("ENODEV", () -> vfio.unmapAll());
    }

    @Test
    void unmapDmaOfNothingSucceedsUnlikeIoasUnmap() throws Exception {
        Ioas ioas = compat();
        assertEquals(0, vfio.unmapDma(0x1000, PAGE));
        assertErrno("ENOENT", () -> ioas.unmap(0x1000, PAGE));
        MemorySegment m = buffer(2 * PAGE);
        vfio.mapDma(m, 0x100000, Access.READ_WRITE);
        assertEquals(2 * PAGE, vfio.unmapDma(0x100000, 2 * PAGE));
        assertEquals(0, vfio.unmapDma(0x100000, 2 * PAGE)); // the second time: nothing there
    }

    @Test
    void unmapDmaRemovesEveryWholeMappingInTheRange() throws Exception {
        Ioas ioas = compat();
        for (int i = 0; i < 4; i++) vfio.mapDma(buffer(2 * PAGE), 0x100000 + i * 0x10000L, Access.READ);
        ioas.map(buffer(PAGE), 0x180000, Access.READ); // IOAS_MAP on the same IOAS
        assertEquals(5 * 2 * PAGE - PAGE, vfio.unmapDma(0x100000, 0x100000));
        assertEquals(0, vfio.unmapAll());
    }

    @Test
    void unmapAllRemovesEverythingAndNeedsIovaAndSizeZero() throws Exception {
        compat();
        assertEquals(0, vfio.unmapAll()); // nothing mapped
        vfio.mapDma(buffer(PAGE), 0x1000, Access.READ);
        vfio.mapDma(buffer(3 * PAGE), 0x100000, Access.READ_WRITE);
        assertErrno("EINVAL", () -> vfio.unmapDma(0x1000, 0, VfioCompat.UNMAP_FLAG_ALL));
        assertErrno("EINVAL", () -> vfio.unmapDma(0, PAGE, VfioCompat.UNMAP_FLAG_ALL));
        assertEquals(4 * PAGE, vfio.unmapAll());
    }

    @Test
    void unmapDmaOfZeroSizeIsEINVALAndAWrappingRangeEOVERFLOW() throws Exception {
        compat();
        for (long type : new long[] {VfioCompat.TYPE1v2_IOMMU, VfioCompat.TYPE1_IOMMU}) {
            vfio.setIommu(type);
            var e = assertErrno("EINVAL", () -> vfio.unmapDma(0x1000, 0));
            assertTrue(e.arguments().endsWith("unmapped=0x0"), e.getMessage()); // the size is written back
            assertErrno("EOVERFLOW", () -> vfio.unmapDma(-PAGE, 2 * PAGE));
        }
    }

    @Test
    void type1v2RefusesToUnmapPartOfAMappingAndReportsWhatWentFirst() throws Exception {
        Ioas ioas = compat();
        vfio.setIommu(VfioCompat.TYPE1v2_IOMMU);
        vfio.mapDma(buffer(2 * PAGE), 0x100000, Access.READ_WRITE);
        vfio.mapDma(buffer(2 * PAGE), 0x102000, Access.READ_WRITE);
        var e = assertErrno("ENOENT", () -> vfio.unmapDma(0x100000, PAGE));
        assertTrue(e.arguments().endsWith("unmapped=0x0"), e.getMessage());
        e = assertErrno("ENOENT", () -> vfio.unmapDma(0x101000, 2 * PAGE));
        assertTrue(e.arguments().endsWith("unmapped=0x0"), e.getMessage());
        // the first mapping lies inside the range, the second sticks out: the first is gone
        e = assertErrno("ENOENT", () -> vfio.unmapDma(0x100000, 3 * PAGE));
        assertTrue(e.arguments().endsWith("unmapped=0x2000"), e.getMessage());
        assertErrno("ENOENT", () -> ioas.unmap(0x100000, 2 * PAGE));
        assertEquals(2 * PAGE, vfio.unmapDma(0x102000, 2 * PAGE));
    }

    @Test
    void type1CutsMappingsSoPartsCanBeUnmapped() throws Exception {
        requireMock();
        Ioas ioas = compat();
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        MemorySegment m = buffer(4 * PAGE);
        for (int i = 0; i < 4; i++) m.set(ValueLayout.JAVA_BYTE, i * PAGE, (byte) (i + 1));
        vfio.mapDma(m, 0x100000, Access.READ_WRITE);
        assertEquals(PAGE, vfio.unmapDma(0x101000, PAGE));
        try (MockAccess access = mock.createAccess(ioas, false)) {
            MemorySegment one = arena.allocate(1);
            access.rw(0x100000, one, false);
            assertEquals(1, one.get(ValueLayout.JAVA_BYTE, 0));
            assertErrno("ENOENT", () -> access.rw(0x101000, one, false));
            access.rw(0x103000, one, false); // the last piece still maps its own page
            assertEquals(4, one.get(ValueLayout.JAVA_BYTE, 0));
        }
        // the pieces are areas of their own now: IOAS_UNMAP takes them one by one
        assertEquals(PAGE, ioas.unmap(0x100000, PAGE));
        assertEquals(2 * PAGE, vfio.unmapDma(0x102000, 2 * PAGE));
        assertEquals(0, vfio.unmapAll());
    }

    @Test
    void type1CutsMappingsInAMockDomainToo() throws Exception {
        requireMock();
        Ioas ioas = compat();
        MockDevice dev = mock.addDevice(ioas);
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        MemorySegment m = buffer(16 * PAGE);
        vfio.mapDma(m, X, Access.READ_WRITE);
        assertEquals(2 * PAGE, vfio.unmapDma(X + 4 * PAGE, 2 * PAGE));
        mock.checkMap(dev.hwptId(), X, m.asSlice(0, 4 * PAGE));
        mock.checkMap(dev.hwptId(), X + 6 * PAGE, m.asSlice(6 * PAGE, 10 * PAGE));
        assertEquals(14 * PAGE, vfio.unmapAll());
    }

    @Test
    void type1CannotCutInsideAPageNorAPinnedMapping() throws Exception {
        requireMock();
        Ioas ioas = compat();
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        vfio.mapDma(buffer(4 * PAGE), 0x100000, Access.READ_WRITE);
        // a cut must start a new area on a page boundary; a failed cut writes nothing back
        var e = assertErrno("EINVAL", () -> vfio.unmapDma(0x100000, 0x800));
        assertTrue(e.arguments().endsWith("unmapped=0x800"), e.getMessage());
        try (MockAccess access = mock.createAccess(ioas, true)) {
            access.pin(0x100000, PAGE, false);
            assertErrno("EINVAL", () -> vfio.unmapDma(0x102000, PAGE)); // an access pins the area
            // unmapping the whole area is no cut: the access is told and unpins
            assertEquals(4 * PAGE, vfio.unmapDma(0x100000, 4 * PAGE));
        }
    }

    @Test
    void type1CutsBothEndsBeforeUnmappingAcrossMappings() throws Exception {
        Ioas ioas = compat();
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        vfio.mapDma(buffer(4 * PAGE), 0x100000, Access.READ);
        vfio.mapDma(buffer(4 * PAGE), 0x104000, Access.READ);
        assertEquals(4 * PAGE, vfio.unmapDma(0x102000, 4 * PAGE)); // two pages of each
        assertEquals(2 * PAGE, ioas.unmap(0x100000, 2 * PAGE));
        assertEquals(2 * PAGE, ioas.unmap(0x106000, 2 * PAGE));
    }

    // ---- GET_INFO ----

    @Test
    void getInfoChecksArgszBeforeTheCompatIoas() throws Exception {
        MemorySegment s = struct(64, 15);
        assertErrno("EINVAL", () -> fd.ioctl(Uapi.VFIO_IOMMU_GET_INFO(), s));
        s.set(ValueLayout.JAVA_INT, 0, 16);
        assertErrno("ENODEV", () -> fd.ioctl(Uapi.VFIO_IOMMU_GET_INFO(), s));
        assertErrno("ENODEV", () -> vfio.info());
    }

    @Test
    void getInfoWithoutADomainReportsTheWholeSpaceAndEveryPageSizeFrom4K() throws Exception {
        compat();
        VfioCompat.Info info = vfio.info();
        assertEquals(VfioCompat.INFO_PGSIZES | VfioCompat.INFO_CAPS, info.flags());
        assertEquals(-PAGE, info.iovaPageSizes()); // all domains' sizes: none, so every size from PAGE_SIZE up
        assertEquals(List.of(new IovaRange(0, -1L)), info.iovaRanges());
        assertEquals(OptionalLong.of(0xffffffffL), info.dmaAvailable());
        vfio.setIommu(VfioCompat.TYPE1_IOMMU);
        assertEquals(-PAGE, vfio.info().iovaPageSizes());
    }

    @Test
    void getInfoWithAMockDomainReportsItsApertureAndPageSizes() throws Exception {
        requireMock();
        Ioas ioas = compat();
        mock.addDevice(ioas);
        VfioCompat.Info info = vfio.info();
        assertEquals(List.of(new IovaRange(MockDriver.APERTURE_START, MockDriver.APERTURE_LAST)), info.iovaRanges());
        // 6.12: 2 KiB IO pages, folded into PAGE_SIZE; 7.3: the generic page table's sizes up to 64 GiB
        assertEquals(linux7() ? (1L << 37) - PAGE : PAGE, info.iovaPageSizes(), Long.toHexString(info.iovaPageSizes()));
        assertEquals(OptionalLong.of(0xffffffffL), info.dmaAvailable());
    }

    @Test
    void getInfoListsTheHolesBetweenReservedRanges() throws Exception {
        requireMock();
        Ioas ioas = compat();
        mock.addReserved(ioas, 0x100000, 0x100000);
        mock.addReserved(ioas, 0x400000, PAGE);
        assertEquals(List.of(new IovaRange(0, 0xfffff), new IovaRange(0x200000, 0x3fffff), new IovaRange(0x401000, -1L)),
                vfio.info().iovaRanges());
    }

    /** GET_INFO on a 256-byte buffer of 0xAA with this argsz. */
    MemorySegment rawInfo(int argsz) throws Exception {
        MemorySegment s = arena.allocate(256, 8);
        s.fill((byte) 0xaa);
        s.set(ValueLayout.JAVA_INT, 0, argsz);
        s.set(ValueLayout.JAVA_INT, 4, 0);
        assertEquals(0, fd.ioctl(Uapi.VFIO_IOMMU_GET_INFO(), s));
        for (int i = Math.max(argsz, 16); i < 256; i++) {
            assertEquals((byte) 0xaa, s.get(ValueLayout.JAVA_BYTE, i), "argsz " + argsz + ": byte " + i + " written");
        }
        return s;
    }

    @Test
    void getInfoWritesOnlyWithinArgszAndReportsTheSizeTheCapsNeed() throws Exception {
        compat();
        int full = 24 + 16 + 16 + 16; // struct, DMA_AVAIL (12, 8-aligned), IOVA_RANGE with one range
        MemorySegment s = rawInfo(16); // the pre-capability ABI: only argsz, flags and page sizes come back
        assertEquals(full, vfio_iommu_type1_info.argsz(s));
        assertEquals(VfioCompat.INFO_PGSIZES | VfioCompat.INFO_CAPS, vfio_iommu_type1_info.flags(s));
        assertEquals(-PAGE, vfio_iommu_type1_info.iova_pgsizes(s));
        s = rawInfo(24);
        assertEquals(full, vfio_iommu_type1_info.argsz(s));
        assertEquals(0, vfio_iommu_type1_info.cap_offset(s)); // the caps did not fit
        assertEquals(0, s.get(ValueLayout.JAVA_INT, 20)); // pad
        s = rawInfo(100);
        assertEquals(full, vfio_iommu_type1_info.argsz(s)); // the size needed, not the size given
        assertEquals(24, vfio_iommu_type1_info.cap_offset(s));
        // DMA_AVAIL at 24 (id 3, version 1, next 40, avail U32_MAX), IOVA_RANGE at 40 (id 1, version 1, last)
        assertEquals(Uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL(), s.get(ValueLayout.JAVA_SHORT, 24));
        assertEquals(1, s.get(ValueLayout.JAVA_SHORT, 26));
        assertEquals(40, s.get(ValueLayout.JAVA_INT, 28));
        assertEquals(-1, s.get(ValueLayout.JAVA_INT, 32));
        assertEquals((byte) 0xaa, s.get(ValueLayout.JAVA_BYTE, 36)); // the 8-byte alignment gap
        assertEquals(Uapi.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE(), s.get(ValueLayout.JAVA_SHORT, 40));
        assertEquals(1, s.get(ValueLayout.JAVA_SHORT, 42));
        assertEquals(0, s.get(ValueLayout.JAVA_INT, 44));
        assertEquals(1, s.get(ValueLayout.JAVA_INT, 48)); // nr_iovas
        assertEquals(0, s.get(ValueLayout.JAVA_INT, 52)); // reserved
        assertEquals(0, s.get(ValueLayout.JAVA_LONG, 56));
        assertEquals(-1L, s.get(ValueLayout.JAVA_LONG, 64));
        for (int i = full; i < 100; i++) assertEquals((byte) 0xaa, s.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " written");
    }

    @Test
    void getInfoWritesTheCapsThatFitEvenWhenTheChainDoesNot() throws Exception {
        requireMock();
        Ioas ioas = compat();
        mock.addReserved(ioas, 0x100000, PAGE); // two ranges: the chain needs 24 + 16 + 16 + 2 * 16
        MemorySegment s = rawInfo(40);
        assertEquals(88, vfio_iommu_type1_info.argsz(s));
        assertEquals(0, vfio_iommu_type1_info.cap_offset(s));
        assertEquals(Uapi.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL(), s.get(ValueLayout.JAVA_SHORT, 24));
        // the chain reached the start of the next cap, so DMA_AVAIL links to it though it is not there
        assertEquals(40, s.get(ValueLayout.JAVA_INT, 28));
        s = rawInfo(72);
        assertEquals(0, vfio_iommu_type1_info.cap_offset(s));
        assertEquals(0xaaaaaaaa, s.get(ValueLayout.JAVA_INT, 40)); // no room for both ranges: no header ...
        assertEquals(0, s.get(ValueLayout.JAVA_LONG, 56)); // ... but the first range is written
        assertEquals(0xfffffL, s.get(ValueLayout.JAVA_LONG, 64));
        s = rawInfo(88);
        assertEquals(24, vfio_iommu_type1_info.cap_offset(s));
        assertEquals(2, s.get(ValueLayout.JAVA_INT, 48));
        assertEquals(0x101000L, s.get(ValueLayout.JAVA_LONG, 72));
        assertEquals(-1L, s.get(ValueLayout.JAVA_LONG, 80));
    }

    // ---- everything else ----

    @Test
    void otherVfioIoctlsAndNumbersOutsideTheTableAreENOTTY() throws Exception {
        compat();
        MemorySegment s = struct(64, 64);
        long[] requests = {Uapi.VFIO_IOMMU_DIRTY_PAGES(), Uapi.VFIO_GROUP_GET_STATUS(), Uapi.VFIO_IOMMU_ENABLE(),
                Uapi.VFIO_IOMMU_DISABLE(), Uapi.VFIO_GET_API_VERSION() | (2L << 30) /* _IOR */, 0x3b00 | 0x7f, 0x3b00 | 0xa1,
                0x3b00 | 0xff, 0x3c64 /* another type byte, nr 100 */};
        for (long request : requests) {
            var e = assertErrno("ENOTTY", () -> fd.ioctl(request, s));
            assertFalse(e instanceof io.github.iommufd4j.UnsupportedCommandException);
        }
    }
}
