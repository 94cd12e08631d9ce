package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.uapi.iommu_vfio_ioas;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_map;
import io.github.iommufd4j.bindings.uapi.vfio_iommu_type1_dma_unmap;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The IOTLB in front of translate never answers from a stale entry: every test translates first
 * (filling the cache), changes the mappings, and translates again, for each way an area goes or
 * changes; and a translating thread racing map/unmap never sees a mapping older than one that
 * was already replaced.
 */
class IotlbTest extends RawIoasFixture {
    static final long X = 1L << 32; // 2 MiB aligned: block entries for large areas

    private long tr(int ioasId, long iova) {
        return raw.b.translate(ioasId, iova, false);
    }

    /**
     * The first fill of an IOTLB is announced under the backend lock, which writers read without
     * a fence: an optimistic reader's first fill takes the lock, caches nothing and invalidates its
     * stamp (translate retries under the lock); fills after it cache, and invalidate forgets them.
     */
    @Test
    void theFirstFillIsAnnouncedUnderTheLockAndLaterFillsCache() {
        FifoLock lock = new FifoLock();
        Iotlb tlb = new Iotlb();
        long va = 1L << 40, last = X + PAGE - 1;
        tlb.invalidate(X, last); // nothing filled yet: nothing to do
        long stamp = lock.tryOptimisticRead();
        tlb.fill(X, X, last, va, SwIoas.READ, 1, PAGE, lock, stamp);
        assertEquals(Iotlb.MISS, tlb.lookup(X, false));
        assertFalse(lock.validate(stamp));
        long held = lock.lock();
        try {
            tlb.fill(X, X, last, va, SwIoas.READ, 1, PAGE, lock, held);
            assertEquals(va + 8, tlb.lookup(X + 8, false));
            tlb.invalidate(X, last);
            assertEquals(Iotlb.MISS, tlb.lookup(X + 8, false));
        } finally {
            lock.unlock();
        }
        stamp = lock.tryOptimisticRead();
        tlb.fill(X, X, last, va, SwIoas.READ, 1, PAGE, lock, stamp);
        assertEquals(va, tlb.lookup(X, false));
        assertEquals(-1, tlb.lookup(X, true)); // read-only
        lock.lock();
        try {
            tlb.invalidate(X, last);
        } finally {
            lock.unlock();
        }
        assertEquals(Iotlb.MISS, tlb.lookup(X, false));
    }

    @Test
    void anUnmappedPageTranslatesNowhere() {
        MemorySegment m = raw.buffer(PAGE);
        check(raw.mapFixed(ioas, m, X));
        assertEquals(m.address() + 8, tr(ioas, X + 8));
        check(raw.unmap(ioas, X, PAGE));
        assertEquals(-1, tr(ioas, X + 8));
    }

    @Test
    void aRemappedPageTranslatesToTheNewMemoryWithTheNewPermissions() {
        MemorySegment a = raw.buffer(PAGE), b = raw.buffer(PAGE);
        check(raw.mapFixed(ioas, a, X));
        assertEquals(a.address(), raw.b.translate(ioas, X, true));
        check(raw.unmap(ioas, X, PAGE));
        check(raw.map(ioas, R | FIXED, b.address(), PAGE, X));
        assertEquals(b.address(), tr(ioas, X));
        assertEquals(-1, raw.b.translate(ioas, X, true)); // read-only now
    }

    @Test
    void aPageMappedWhereALargeAreaWasDoesNotTranslateThroughItsBlock() {
        MemorySegment big = raw.buffer(4 * MB), small = raw.buffer(PAGE);
        check(raw.mapFixed(ioas, big, X));
        assertEquals(big.address() + MB, tr(ioas, X + MB)); // a 2 MiB block entry
        assertEquals(big.address() + 3 * MB + 5, tr(ioas, X + 3 * MB + 5));
        check(raw.unmap(ioas, X, 4 * MB));
        check(raw.mapFixed(ioas, small, X + MB));
        assertEquals(small.address(), tr(ioas, X + MB));
        assertEquals(-1, tr(ioas, X + MB + PAGE));
        assertEquals(-1, tr(ioas, X + 3 * MB + 5));
    }

    @Test
    void pagesSharingASlotEvictEachOtherAndUnmapForgetsTheRightOne() {
        long alias = X + (long) Iotlb.MIN_ENTRIES * PAGE; // same slot in a cache of the smallest size
        MemorySegment a = raw.buffer(PAGE), b = raw.buffer(PAGE);
        check(raw.mapFixed(ioas, a, X));
        check(raw.mapFixed(ioas, b, alias));
        for (int i = 0; i < 2; i++) {
            assertEquals(a.address(), tr(ioas, X));
            assertEquals(b.address(), tr(ioas, alias));
        }
        check(raw.unmap(ioas, alias, PAGE));
        assertEquals(-1, tr(ioas, alias));
        assertEquals(a.address(), tr(ioas, X));
        check(raw.unmap(ioas, X, PAGE));
        assertEquals(-1, tr(ioas, X));
    }

    @Test
    void anUnmapOfMorePagesThanTheCacheHoldsDropsItWhole() {
        int n = 3 * Iotlb.MIN_ENTRIES;
        MemorySegment m = raw.buffer(PAGE);
        for (int i = 0; i < n; i++) check(raw.map(ioas, RW | FIXED, m.address(), PAGE, X + i * PAGE));
        for (int i = 0; i < n; i++) assertEquals(m.address(), tr(ioas, X + i * PAGE));
        check(raw.unmap(ioas, X + PAGE, (n - 2) * PAGE)); // all but the first and the last
        assertEquals(m.address(), tr(ioas, X));
        assertEquals(m.address(), tr(ioas, X + (n - 1) * PAGE));
        for (int i = 1; i < n - 1; i++) assertEquals(-1, tr(ioas, X + i * PAGE), "page " + i);
        check(raw.unmap(ioas, 0, -1L)); // unmap all
        assertEquals(-1, tr(ioas, X));
        assertEquals(-1, tr(ioas, X + (n - 1) * PAGE));
    }

    @Test
    void aCopyOutlivesItsSourceMappingAndTheSourceForgetsIt() {
        int dst = raw.ioas();
        MemorySegment m = raw.buffer(2 * PAGE);
        check(raw.mapFixed(ioas, m, X));
        assertEquals(m.address() + PAGE, tr(ioas, X + PAGE));
        check(raw.copy(dst, ioas, RW | FIXED, X, 2 * PAGE, 2 * X));
        assertEquals(m.address() + PAGE, tr(dst, 2 * X + PAGE));
        check(raw.unmap(ioas, X, 2 * PAGE));
        assertEquals(-1, tr(ioas, X + PAGE));
        assertEquals(m.address() + PAGE, tr(dst, 2 * X + PAGE));
        check(raw.unmap(dst, 2 * X, 2 * PAGE));
        assertEquals(-1, tr(dst, 2 * X + PAGE));
    }

    @Test
    void aNewIoasWithTheIdOfADestroyedOneStartsEmpty() {
        int other = raw.ioas();
        MemorySegment m = raw.buffer(PAGE);
        check(raw.mapFixed(other, m, X));
        assertEquals(m.address(), tr(other, X));
        check(raw.destroy(other));
        assertEquals(-1, tr(other, X));
        assertEquals(other, raw.ioas()); // the lowest free ID again
        assertEquals(-1, tr(other, X));
    }

    @Test
    void aVfioUnmapInsideAMappingKeepsTheRestTranslating() {
        MemorySegment set = raw.struct(iommu_vfio_ioas.sizeof());
        iommu_vfio_ioas.ioas_id(set, ioas);
        iommu_vfio_ioas.op(set, (short) IOMMU_VFIO_IOAS_SET());
        check(raw.ioctl(IOMMU_VFIO_IOAS(), set));
        check(raw.b.ioctl(VFIO_SET_IOMMU(), MemorySegment.ofAddress(VFIO_TYPE1_IOMMU())));
        MemorySegment m = raw.buffer(4 * PAGE);
        MemorySegment map = raw.struct(vfio_iommu_type1_dma_map.sizeof());
        vfio_iommu_type1_dma_map.flags(map, VFIO_DMA_MAP_FLAG_READ() | VFIO_DMA_MAP_FLAG_WRITE());
        vfio_iommu_type1_dma_map.vaddr(map, m.address());
        vfio_iommu_type1_dma_map.iova(map, X);
        vfio_iommu_type1_dma_map.size(map, 4 * PAGE);
        check(raw.b.ioctl(VFIO_IOMMU_MAP_DMA(), map));
        for (int i = 0; i < 4; i++) assertEquals(m.address() + i * PAGE, tr(ioas, X + i * PAGE));
        MemorySegment unmap = raw.struct(vfio_iommu_type1_dma_unmap.sizeof());
        vfio_iommu_type1_dma_unmap.iova(unmap, X + PAGE);
        vfio_iommu_type1_dma_unmap.size(unmap, 2 * PAGE);
        check(raw.b.ioctl(VFIO_IOMMU_UNMAP_DMA(), unmap));
        assertEquals(m.address(), tr(ioas, X));
        assertEquals(-1, tr(ioas, X + PAGE));
        assertEquals(-1, tr(ioas, X + 2 * PAGE));
        assertEquals(m.address() + 3 * PAGE, tr(ioas, X + 3 * PAGE));
    }

    /**
     * One thread maps page {@code k % PAGES} of a buffer at X for k = 1, 2, ... (unmapping the
     * previous one) and publishes k after each map; another translates X. Reading the count before
     * and after its translate, the reader knows which mappings may have been live meanwhile: a VA
     * of any other (an entry of a mapping already unmapped) is stale.
     */
    @Test
    void aTranslationRacingMapAndUnmapIsNeverOfAReplacedMapping() throws Exception {
        final int pages = 64, rounds = 20_000;
        MemorySegment m = raw.buffer(pages * PAGE);
        // Other pages in the table and the cache, as a real IOAS has (the cache sizes itself by them).
        MemorySegment other = raw.buffer(PAGE);
        for (int i = 1; i <= 2048; i++) check(raw.mapFixed(ioas, other, X + i * PAGE));
        AtomicLong published = new AtomicLong();
        AtomicReference<String> failure = new AtomicReference<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            long checked = 0;
            while (published.get() < rounds && failure.get() == null) {
                long before = published.get();
                long va = tr(ioas, X);
                long after = published.get();
                tr(ioas, X + (1 + checked % 2048) * PAGE); // keep the other entries moving
                if (va == -1 || after - before + 2 >= pages) continue;
                long page = (va - m.address()) / PAGE;
                boolean live = false;
                for (long k = before; k <= after + 1; k++) live |= k % pages == page && k > 0;
                if (!live) failure.set("translated to page " + page + " while mappings " + before + ".." + (after + 1) + " were live");
                checked++;
            }
        });
        for (long k = 1; k <= rounds && failure.get() == null; k++) {
            if (k > 1) check(raw.unmap(ioas, X, PAGE));
            check(raw.map(ioas, RW | FIXED, m.address() + (k % pages) * PAGE, PAGE, X));
            published.set(k);
        }
        reader.join();
        assertNull(failure.get());
        assertEquals(m.address() + (rounds % pages) * PAGE, tr(ioas, X));
    }
}
