package io.github.iommufd4j.internal.software;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongConsumer;

/**
 * The dirty bits of a mock paging domain, one per 2 KiB IOPTE ({@code MOCK_IO_PAGE_SIZE}), kept
 * sparse: 4096-bit blocks keyed by {@code iova >>> 23}.
 */
final class DirtyBits {
    static final int SHIFT = 11;
    static final long GRANULE = 1L << SHIFT;
    private static final int BLOCK_SHIFT = SHIFT + 12;
    private final TreeMap<Long, long[]> blocks = new TreeMap<>();

    void set(long iova) {
        long g = iova >>> SHIFT;
        long[] b = blocks.computeIfAbsent(iova >>> BLOCK_SHIFT, k -> new long[64]);
        b[(int) (g >>> 6) & 63] |= 1L << g;
    }

    /** Calls {@code action} with the IOVA of each dirty granule starting in {@code [start, last]}, ascending; clears them if asked. */
    void forEach(long start, long last, boolean clear, LongConsumer action) {
        long first = start >>> SHIFT, end = last >>> SHIFT;
        var view = blocks.subMap(start >>> BLOCK_SHIFT, true, last >>> BLOCK_SHIFT, true);
        for (Map.Entry<Long, long[]> e : view.entrySet()) {
            long base = e.getKey() << (BLOCK_SHIFT - SHIFT);
            long[] b = e.getValue();
            for (int w = 0; w < 64; w++) {
                long bits = b[w];
                while (bits != 0) {
                    int bit = Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    long g = base + w * 64L + bit;
                    if (g < first || g > end) continue;
                    if (clear) b[w] &= ~(1L << bit);
                    action.accept(g << SHIFT);
                }
            }
        }
    }

    void clear(long start, long last) {
        forEach(start, last, true, g -> {});
    }

    void clearAll() {
        blocks.clear();
    }
}
