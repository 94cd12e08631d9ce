package io.github.iommufd4j.internal.software;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;
import static io.github.iommufd4j.internal.software.U64.lt;

/**
 * An IOTLB in front of an IOAS's area table, for {@link SoftwareBackend#translate}: two
 * direct-mapped caches, of 4 KiB pages and of 2 MiB blocks (slot = page or block number modulo
 * the capacity), each entry a tag with the permissions and the VA - IOVA offset of its area. A
 * lookup in the area table touches several arrays at random places and branches unpredictably;
 * a hit reads one entry. A block is cached when it lies wholly inside an area, else its page
 * when that does. The 4 KiB cache is sized by the number of areas, the 2 MiB one by the bytes
 * mapped (each between {@value #MIN_ENTRIES} and {@value #MAX_ENTRIES} entries of 16 bytes),
 * allocated at the first fill: an IOAS nobody translates in holds none.
 *
 * <p>Areas of dma-bufs are never cached (a revoked one translates nowhere). Whoever removes or
 * changes an area calls {@link #invalidate} for its range, holding the backend's write lock; a
 * cache with fewer slots than the range has pages or blocks is dropped whole.
 *
 * <p>Concurrency. Lookups run under the backend's optimistic read (the caller validates its
 * stamp afterwards); fills come from those readers. An entry is written only by the holder of
 * the fill flag, which a filler takes without waiting (busy: no fill) and then checks that its
 * stamp is still valid, i.e. no writer has begun since its table lookup; an invalidating writer
 * waits for the flag, so a fill either completes before the invalidation or sees the writer and
 * skips. An entry is written key 0 (empty), offset, key, and read key, offset, key: a reader
 * racing a fill of its slot sees two different keys and misses.
 */
final class Iotlb {
    /** The result of a lookup that found no entry. No user VA has this value. */
    static final long MISS = Long.MIN_VALUE;
    static final int MIN_ENTRIES = 1024, MAX_ENTRIES = 1 << 20;
    static final int PAGE_SHIFT = 12, BLOCK_SHIFT = 21;
    private static final VarHandle ENTRY = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle FILLING;

    static {
        try {
            FILLING = MethodHandles.lookup().findVarHandle(Iotlb.class, "filling", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Entry {@code i} of either cache: {@code [2i]} the key, {@code number << 2 | perms} (page or
     * block number; perms {@link SwIoas#READ}, {@link SwIoas#WRITE}, never 0, so 0 is empty),
     * {@code [2i+1]} the area's VA - IOVA.
     */
    private long[] pages, blocks;
    /** 1 while an entry is being written (a fill, an invalidation, a resize). */
    @SuppressWarnings("unused")
    private volatile int filling;
    /**
     * Set once, under the backend's lock (a first filler reading optimistically takes the lock
     * for it and caches nothing that time): every writer after it, holding the lock, sees it, and
     * one before it has finished. A writer reads it without a fence, so until the first fill an
     * unmap costs no atomic operation or fence here.
     */
    private volatile boolean used;

    /** The VA behind {@code iova}, -1 if the cached permissions deny the access, or {@link #MISS}. */
    long lookup(long iova, boolean write) {
        long va = probe(blocks, iova, BLOCK_SHIFT, write);
        return va != MISS ? va : probe(pages, iova, PAGE_SHIFT, write);
    }

    private static long probe(long[] e, long iova, int shift, boolean write) {
        if (e == null) return MISS;
        long number = iova >>> shift;
        int i = slot(e, number);
        long key = (long) ENTRY.getAcquire(e, i);
        if (key >>> 2 != number || key == 0) return MISS;
        long offset = e[i + 1];
        VarHandle.loadLoadFence();
        if (e[i] != key) return MISS; // a fill of this slot ran meanwhile
        return (key & (write ? SwIoas.WRITE : SwIoas.READ)) == 0 ? -1 : iova + offset;
    }

    /**
     * Caches the block, else the page, of {@code iova} in the area {@code [start, last]} at
     * {@code va} with {@code perms}, if the flag is free and {@code stamp} is still valid.
     * {@code areas} and {@code mappedBytes} (the IOAS's) size the caches.
     */
    void fill(long iova, long start, long last, long va, int perms, int areas, long mappedBytes, FifoLock lock, long stamp) {
        perms &= SwIoas.READ | SwIoas.WRITE;
        long block = iova & -(1L << BLOCK_SHIFT), page = iova & -PAGE_SIZE;
        boolean inBlock = inside(block, BLOCK_SHIFT, start, last);
        if (perms == 0 || !inBlock && !inside(page, PAGE_SHIFT, start, last)) return;
        if (!used) {
            if ((stamp & 1) == 0) { // an optimistic reader (odd stamps are the lock holder's)
                lock.lock();
                used = true;
                lock.unlock();
                return;
            }
            used = true;
        }
        if (!FILLING.compareAndSet(this, 0, 1)) return;
        try {
            if (!lock.validate(stamp)) return; // a writer began since the table lookup
            long[] e;
            if (inBlock) {
                e = blocks;
                int want = capacity(mappedBytes >>> BLOCK_SHIFT);
                if (e == null || e.length / 2 < want) blocks = e = new long[2 * want];
            } else {
                e = pages;
                int want = capacity(areas);
                if (e == null || e.length / 2 < want) pages = e = new long[2 * want];
            }
            int shift = inBlock ? BLOCK_SHIFT : PAGE_SHIFT;
            long number = iova >>> shift;
            int i = slot(e, number);
            ENTRY.setOpaque(e, i, 0L);
            VarHandle.storeStoreFence();
            e[i + 1] = va - start;
            ENTRY.setRelease(e, i, number << 2 | perms);
        } finally {
            filling = 0;
        }
    }

    /** Whether the unit of {@code 1 << shift} bytes at {@code first} lies inside {@code [start, last]}. */
    private static boolean inside(long first, int shift, long start, long last) {
        return !lt(first, start) && !lt(last, first + (1L << shift) - 1);
    }

    /** Forgets the pages and blocks of {@code [first, last]} (the caller holds the write lock). */
    void invalidate(long first, long last) {
        if (!used) return; // no fill yet: none can begin while the caller holds the lock (see used)
        lockFill();
        try {
            pages = invalidate(pages, first, last, PAGE_SHIFT);
            blocks = invalidate(blocks, first, last, BLOCK_SHIFT);
        } finally {
            filling = 0;
        }
    }

    /** The cache without the entries of {@code [first, last]}: {@code e}, or null to drop it whole. */
    private static long[] invalidate(long[] e, long first, long last, int shift) {
        if (e == null) return null;
        long number = first >>> shift, lastNumber = last >>> shift;
        if (lastNumber - number >= e.length / 2) return null;
        for (;; number++) {
            int i = slot(e, number);
            long key = e[i];
            if (key >>> 2 == number && key != 0) ENTRY.setRelease(e, i, 0L);
            if (number == lastNumber) return e;
        }
    }

    /** Forgets everything and releases the caches' memory. */
    void clear() {
        if (!used) return;
        lockFill();
        pages = blocks = null;
        filling = 0;
    }

    private void lockFill() {
        while (!FILLING.compareAndSet(this, 0, 1)) Thread.onSpinWait(); // a fill is a few stores
    }

    private static int slot(long[] e, long number) {
        return (int) (number & (e.length / 2 - 1)) << 1;
    }

    /** Entries for {@code n} areas or blocks: the next power of two, within the bounds. */
    static int capacity(long n) {
        if (n <= MIN_ENTRIES) return MIN_ENTRIES;
        return n >= MAX_ENTRIES ? MAX_ENTRIES : Integer.highestOneBit((int) n - 1) << 1;
    }
}
