package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.VfioCompat;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.bindings.Libc;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every segment the typed API hands to the kernel by address is checked before the call: native
 * (a heap segment's address is an array offset, not a user address), alive (a closed arena's
 * memory may belong to anything by now), large enough for what the kernel reads or writes (a
 * dirty bitmap's size follows from length and page size), and writable where the kernel writes.
 * A segment that fails is an {@link IllegalArgumentException} (heap, too small, read-only) or an
 * {@link IllegalStateException} (closed arena), and nothing reaches the kernel.
 */
class UserMemoryChecksContractTest extends ContractTestBase {
    /** Dirty bitmap granule: the mock's 2 KiB page (both kernels' mock domains track per 2 KiB or finer). */
    static final long DIRTY_PAGE = MockDriver.PAGE_SIZE;
    /** Pages of the dirty-tracked mapping: 256 bits, so the kernel writes 32 bytes of bitmap. */
    static final int PAGES = 256;

    Ioas ioas;
    MockDevice dev;
    HwPagetable dirty, parent, nested;
    MockAccess access;
    VfioCompat vfio;
    long iova;

    @BeforeEach
    void objects() throws Exception {
        requireMock();
        ioas = fd.allocIoas();
        dev = mock.addDevice(ioas);
        dirty = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.DIRTY_TRACKING);
        parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        nested = fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST, MockDriver.selftestData(arena, 0), null);
        iova = MockDriver.APERTURE_START;
        ioas.map(buffer(PAGES * DIRTY_PAGE), iova, Access.READ_WRITE);
        access = mock.createAccess(ioas, false);
        fd.setVfioCompatIoas(fd.allocIoas());
        vfio = fd.vfioCompat();
    }

    /** Native memory that is gone: its arena is closed and its pages unmapped, so a stray kernel access faults. */
    static MemorySegment closedSegment(long size) {
        long length = (size + PAGE - 1) & -PAGE;
        long address = Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        assertTrue(address > 0, "mmap: " + address);
        MemorySegment s;
        try (Arena a = Arena.ofConfined()) {
            s = MemorySegment.ofAddress(address).reinterpret(size, a, m -> Libc.munmap(address, length));
        }
        return s;
    }

    /** A heap segment, 8-byte aligned. */
    static MemorySegment heap(long size) {
        return MemorySegment.ofArray(new long[(int) ((size + 7) / 8)]).asSlice(0, size);
    }

    /** Runs every check and reports all that fail, each under its own name. */
    static void assertEach(Class<? extends Throwable> expected, List<Named> checks) {
        List<Executable> all = new ArrayList<>();
        for (Named c : checks) {
            all.add(() -> {
                Throwable t = assertThrows(Throwable.class, c.op::run, c.name + " was accepted");
                if (!expected.isInstance(t)) {
                    fail(c.name + ": expected " + expected.getSimpleName() + " but got " + t, t);
                }
            });
        }
        assertAll(all);
    }

    record Named(String name, Op op) {}

    static Named check(String name, Op op) {
        return new Named(name, op);
    }

    /** Every place the typed API hands user memory to the kernel by address, each given a segment made by {@code bad}. */
    List<Named> everyPlace(LongFunction<MemorySegment> bad) {
        return List.of(
                check("ioas.map", () -> ioas.map(bad.apply(PAGE), Access.READ)),
                check("vfio.mapDma", () -> vfio.mapDma(bad.apply(PAGE), 0x100000, Access.READ)),
                check("access.rw read", () -> access.rw(iova, bad.apply(64), false)),
                check("access.rw write", () -> access.rw(iova, bad.apply(64), true)),
                check("hwpt.dirtyBitmap", () -> dirty.dirtyBitmap(iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, bad.apply(PAGES / 8), false)),
                check("hwpt.invalidate", () -> nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, bad.apply(8), 8, 1)),
                check("allocNestedHwpt data", () -> fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                        bad.apply(4), null)),
                check("mock.markDirty", () -> mock.markDirty(dirty.id(), iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, bad.apply(PAGES / 8))),
                check("mock.checkMap", () -> mock.checkMap(dev.hwptId(), iova, bad.apply(PAGE))),
                check("mock.checkRefs", () -> mock.checkRefs(bad.apply(PAGE), 0)),
                check("fd.ioctl", () -> fd.ioctl(Command.IOAS_ALLOC.request(), bad.apply(16))));
    }

    @Test
    void heapSegmentsAreRefusedBeforeTheKernelSeesThem() {
        assertEach(IllegalArgumentException.class, everyPlace(UserMemoryChecksContractTest::heap));
    }

    @Test
    void segmentsOfClosedArenasAreRefusedBeforeTheKernelSeesThem() {
        assertEach(IllegalStateException.class, everyPlace(UserMemoryChecksContractTest::closedSegment));
    }

    // ---- too small for what the kernel reads or writes ----

    @Test
    void aDirtyBitmapTooSmallForTheRangeIsRefusedAndNothingIsWritten() throws Exception {
        dirty.setDirtyTracking(true);
        MemorySegment all = arena.allocate(PAGES / 8);
        all.fill((byte) 0xff);
        mock.markDirty(dirty.id(), iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, all);
        // The kernel writes whole u64 words: ceil(pages / 64) * 8 bytes, here 32.
        MemorySegment canary = arena.allocate(64, 8);
        for (long small : new long[] {1, 8, 24, 31}) {
            assertThrows(IllegalArgumentException.class,
                    () -> dirty.dirtyBitmap(iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, canary.asSlice(0, small), true),
                    small + " bytes for " + PAGES + " pages");
        }
        assertEquals(-1, canary.mismatch(arena.allocate(64)), "nothing was written");
        // Boundaries: 64 pages fit one word, 65 need two.
        dirty.dirtyBitmap(iova, 64 * DIRTY_PAGE, DIRTY_PAGE, canary.asSlice(0, 8), true);
        assertThrows(IllegalArgumentException.class,
                () -> dirty.dirtyBitmap(iova, 65 * DIRTY_PAGE, DIRTY_PAGE, canary.asSlice(0, 8), true));
        canary.fill((byte) 0);
        // Exactly large enough: the kernel writes the bits, and not beyond.
        dirty.dirtyBitmap(iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, canary.asSlice(0, PAGES / 8), false);
        assertEquals(-1L, canary.get(ValueLayout.JAVA_LONG, 24), "all " + PAGES + " pages are dirty");
        assertEquals(-1, canary.asSlice(PAGES / 8).mismatch(arena.allocate(64 - PAGES / 8)), "nothing beyond the bitmap");
    }

    @Test
    void otherSegmentsTooSmallForTheKernelAreRefused() throws Exception {
        dirty.setDirtyTracking(true);
        assertEach(IllegalArgumentException.class, List.of(
                // DIRTY reads one bit per page: 32 bytes for 256 pages.
                check("mock.markDirty", () -> mock.markDirty(dirty.id(), iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, arena.allocate(1))),
                // HWPT_INVALIDATE reads entry_len * entry_num bytes.
                check("hwpt.invalidate", () -> nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, arena.allocate(8), 8, 2))));
        // No entries need no memory.
        assertEquals(0, nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, MemorySegment.NULL, 8, 0));
    }

    // ---- read-only segments ----

    @Test
    void readOnlySegmentsAreRefusedWhereTheKernelWritesAndTakenWhereItOnlyReads() throws Exception {
        dirty.setDirtyTracking(true);
        MemorySegment ro = buffer(4 * PAGE).asReadOnly();
        assertEach(IllegalArgumentException.class, List.of(
                check("ioas.map READ_WRITE", () -> ioas.map(ro, Access.READ_WRITE)),
                check("ioas.map WRITE", () -> ioas.map(ro, Access.WRITE)),
                check("ioas.map fixed READ_WRITE", () -> ioas.map(ro, 2 * MockDriver.APERTURE_START, Access.READ_WRITE)),
                check("vfio.mapDma WRITE", () -> vfio.mapDma(ro, 0x100000, Access.WRITE)),
                check("access.rw read (the kernel writes the buffer)", () -> access.rw(iova, ro.asSlice(0, 64), false)),
                check("hwpt.dirtyBitmap", () -> dirty.dirtyBitmap(iova, PAGES * DIRTY_PAGE, DIRTY_PAGE,
                        arena.allocate(PAGES / 8).asReadOnly(), false))));
        // Where the kernel only reads, read-only memory is fine.
        long at = ioas.map(ro, Access.READ);
        assertEquals(4 * PAGE, ioas.unmap(at, 4 * PAGE));
        access.rw(iova, ro.asSlice(0, 64), true);
        MemorySegment bits = arena.allocate(PAGES / 8);
        bits.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        mock.markDirty(dirty.id(), iova, PAGES * DIRTY_PAGE, DIRTY_PAGE, bits.asReadOnly());
        MemorySegment m = buffer(2 * PAGE);
        ioas.map(m, 3 * MockDriver.APERTURE_START, Access.READ);
        mock.checkMap(dev.hwptId(), 3 * MockDriver.APERTURE_START, m.asReadOnly());
    }

    /**
     * The kernel's rule for memory the process itself may only read: with a domain attached the
     * pages are pinned at map time, for writing when the mapping is writable, which a read-only
     * VMA refuses with EFAULT; a read-only mapping of it is fine.
     */
    @Test
    void memoryMappedReadOnlyIsEFAULTForAWritableMappingOnly() throws Exception {
        int memfd = Libc.memfdCreate("iommufd4j-read-only", Libc.MFD_CLOEXEC);
        assertTrue(memfd >= 0, "memfd_create: " + memfd);
        try (Arena a = Arena.ofConfined()) {
            assertEquals(0, Libc.ftruncate(memfd, 4 * PAGE));
            long address = Libc.mmap(0, 4 * PAGE, Libc.PROT_READ, Libc.MAP_SHARED, memfd, 0);
            assertTrue(address > 0, "mmap: " + address);
            MemorySegment readOnly = MemorySegment.ofAddress(address).reinterpret(4 * PAGE, a, s -> Libc.munmap(address, 4 * PAGE));
            assertErrno("EFAULT", () -> ioas.map(readOnly, Access.READ_WRITE));
            assertErrno("EFAULT", () -> ioas.map(readOnly, Access.WRITE));
            long at = ioas.map(readOnly, Access.READ);
            assertEquals(4 * PAGE, ioas.unmap(at, 4 * PAGE));
        } finally {
            Libc.close(memfd);
        }
    }

    // ---- Linux 7.x: vIOMMU data and invalidation ----

    @Test
    void viommuDataAndEntriesAreCheckedToo() throws Exception {
        assumeTrue(fd.supports(Command.VIOMMU_ALLOC), "kernel without the vIOMMU commands (before 6.13)");
        Viommu v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
        long dataSize = MockDriver.viommuData(arena, 0).byteSize();
        assertEach(IllegalArgumentException.class, List.of(
                check("allocViommu heap data", () -> fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, heap(dataSize))),
                // The kernel writes the mock vIOMMU's data back (out_data, mmap offset and length).
                check("allocViommu read-only data", () -> fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST,
                        MockDriver.viommuData(arena, 1).asReadOnly())),
                check("viommu.invalidate heap", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, heap(12), 12, 1)),
                check("viommu.invalidate too small", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST,
                        arena.allocate(12), 12, 2))));
        assertEach(IllegalStateException.class, List.of(
                check("allocViommu closed data", () -> fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST,
                        closedSegment(dataSize))),
                check("viommu.invalidate closed", () -> v.invalidate(MockDriver.VIOMMU_INVALIDATE_DATA_SELFTEST, closedSegment(12), 12, 1))));
        v.close();
    }
}
