package io.github.iommufd4j.internal.software;

import static io.github.iommufd4j.internal.software.U64.le;
import static io.github.iommufd4j.internal.software.U64.lt;

/**
 * Ranges {@code [start, last]} (unsigned) ordered by start, each with a {@code long data}, two
 * {@code int}s ({@code flags}, {@code tag}) and optionally an object. Stored compactly: chunks of
 * up to {@value #B} rows in parallel primitive arrays, the chunks in a sorted array. A row costs
 * 32 bytes (36 with objects) at full chunks; lookups are two binary searches.
 *
 * <p>Rows are addressed by a <em>position</em> ({@code chunk << 32 | index}), valid until the
 * next insert or remove. Not thread-safe: callers hold the backend lock (readers that validate a
 * {@link FifoLock} stamp may read concurrently and must tolerate
 * runtime exceptions).
 */
final class RangeTable {
    static final int B = 128;

    private static final class Chunk {
        int n;
        final long[] start = new long[B];
        final long[] last = new long[B];
        final long[] data = new long[B];
        final int[] flags = new int[B];
        final int[] tag = new int[B];
        final Object[] ref;

        Chunk(boolean refs) {
            ref = refs ? new Object[B] : null;
        }
    }

    private final boolean refs;
    private Chunk[] chunks;
    /** {@code firsts[c] == chunks[c].start[0]}: the chunk search stays in one array. */
    private long[] firsts;
    /** Chunks in use; all are non-empty except a lone chunk of an empty table. */
    private int nChunks;
    private int size;
    /**
     * The chunk of the last search: lookups near the previous one skip the chunk search. Readers
     * racing with the lock holder may write it too; it is checked before every use.
     */
    private int hint;

    RangeTable(boolean refs) {
        this.refs = refs;
        clear();
    }

    void clear() {
        chunks = new Chunk[] {new Chunk(refs)};
        firsts = new long[1];
        nChunks = 1;
        size = 0;
    }

    int size() {
        return size;
    }

    long start(long p) {
        return chunks[(int) (p >>> 32)].start[(int) p];
    }

    long last(long p) {
        return chunks[(int) (p >>> 32)].last[(int) p];
    }

    long data(long p) {
        return chunks[(int) (p >>> 32)].data[(int) p];
    }

    int flags(long p) {
        return chunks[(int) (p >>> 32)].flags[(int) p];
    }

    int tag(long p) {
        return chunks[(int) (p >>> 32)].tag[(int) p];
    }

    Object ref(long p) {
        return chunks[(int) (p >>> 32)].ref[(int) p];
    }

    void setFlags(long p, int value) {
        chunks[(int) (p >>> 32)].flags[(int) p] = value;
    }

    /**
     * Moves row {@code p}'s start to {@code start} in place; the caller keeps the order (for
     * disjoint rows: the row stays clear of its neighbours), saving a removal and an insertion.
     */
    void setStart(long p, long start) {
        int c = (int) (p >>> 32), i = (int) p;
        chunks[c].start[i] = start;
        if (i == 0) firsts[c] = start;
    }

    /** Moves row {@code p}'s last in place; as {@link #setStart}, the caller keeps the order. */
    void setLast(long p, long last) {
        chunks[(int) (p >>> 32)].last[(int) p] = last;
    }

    private static long pos(int chunk, int index) {
        return ((long) chunk << 32) | index;
    }

    long first() {
        return size == 0 ? -1 : 0;
    }

    long next(long p) {
        int c = (int) (p >>> 32), i = (int) p;
        if (i + 1 < chunks[c].n) return p + 1;
        return c + 1 < nChunks ? pos(c + 1, 0) : -1;
    }

    long prev(long p) {
        int c = (int) (p >>> 32), i = (int) p;
        if (i > 0) return p - 1;
        return c > 0 ? pos(c - 1, chunks[c - 1].n - 1) : -1;
    }

    /** The last chunk whose first start is {@code <= key}, or 0. */
    private int chunkIndex(long key) {
        long[] f = firsts;
        int lo = 1, hi = nChunks - 1, r = 0;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (le(f[mid], key)) {
                r = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return r;
    }

    /** The last row with {@code start <= key}, or -1. */
    long floor(long key) {
        if (size == 0) return -1;
        int c = hint;
        if (c >= nChunks || (c > 0 && lt(key, firsts[c])) || (c + 1 < nChunks && le(firsts[c + 1], key))) {
            c = chunkIndex(key);
            hint = c;
        }
        Chunk ch = chunks[c];
        int lo = 0, hi = ch.n - 1, r = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (le(ch.start[mid], key)) {
                r = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return r < 0 ? -1 : pos(c, r);
    }

    /** For disjoint rows: the row containing {@code key}, or -1. */
    long find(long key) {
        long p = floor(key);
        return p >= 0 && le(key, last(p)) ? p : -1;
    }

    /** For disjoint rows: the first row intersecting {@code [lo, hi]}, or -1. */
    long firstIntersecting(long lo, long hi) {
        long p = floor(lo);
        if (p >= 0 && le(lo, last(p))) return p;
        p = p < 0 ? first() : next(p);
        return p >= 0 && le(start(p), hi) ? p : -1;
    }

    void insert(long start, long last, long data, int flags, int tag, Object ref) {
        int c = chunkIndex(start);
        Chunk ch = chunks[c];
        int lo = 0, hi = ch.n;
        while (lo < hi) { // the first row after (start, last)
            int mid = (lo + hi) >>> 1;
            if (before(start, last, ch.start[mid], ch.last[mid])) hi = mid;
            else lo = mid + 1;
        }
        int i = lo;
        if (ch.n == B) {
            if (i == B && c == nChunks - 1) {
                // Appending (the common case of ascending maps): a new chunk keeps chunks full.
                ch = addChunkAfter(c);
                i = 0;
            } else {
                Chunk right = addChunkAfter(c);
                int half = B / 2;
                move(ch, half, right, 0, B - half);
                right.n = B - half;
                ch.n = half;
                firsts[c + 1] = right.start[0];
                if (refs) java.util.Arrays.fill(ch.ref, half, B, null);
                if (i > half) {
                    ch = right;
                    i -= half;
                }
            }
        }
        move(ch, i, ch, i + 1, ch.n - i);
        ch.start[i] = start;
        ch.last[i] = last;
        ch.data[i] = data;
        ch.flags[i] = flags;
        ch.tag[i] = tag;
        if (refs) ch.ref[i] = ref;
        ch.n++;
        size++;
        if (i == 0) firsts[indexOf(ch, c)] = start;
    }

    /** The index of chunk {@code ch}, which is {@code c} or {@code c + 1} after a split. */
    private int indexOf(Chunk ch, int c) {
        return chunks[c] == ch ? c : c + 1;
    }

    void remove(long p) {
        int c = (int) (p >>> 32), i = (int) p;
        Chunk ch = chunks[c];
        move(ch, i + 1, ch, i, ch.n - i - 1);
        ch.n--;
        if (refs) ch.ref[ch.n] = null;
        size--;
        if (i == 0 && ch.n > 0) firsts[c] = ch.start[0];
        if (ch.n == 0) {
            if (nChunks > 1) removeChunk(c);
        } else if (ch.n < B / 4) {
            if (c + 1 < nChunks && ch.n + chunks[c + 1].n <= B) {
                merge(c);
            } else if (c > 0 && ch.n + chunks[c - 1].n <= B) {
                merge(c - 1);
            }
        }
    }

    /** Appends chunk {@code c+1} to chunk {@code c} and drops it. */
    private void merge(int c) {
        Chunk a = chunks[c], b = chunks[c + 1];
        move(b, 0, a, a.n, b.n);
        a.n += b.n;
        removeChunk(c + 1);
    }

    private Chunk addChunkAfter(int c) {
        if (nChunks == chunks.length) {
            chunks = java.util.Arrays.copyOf(chunks, nChunks * 2);
            firsts = java.util.Arrays.copyOf(firsts, nChunks * 2);
        }
        System.arraycopy(chunks, c + 1, chunks, c + 2, nChunks - c - 1);
        System.arraycopy(firsts, c + 1, firsts, c + 2, nChunks - c - 1);
        Chunk ch = new Chunk(refs);
        chunks[c + 1] = ch;
        nChunks++;
        return ch;
    }

    private void removeChunk(int c) {
        System.arraycopy(chunks, c + 1, chunks, c, nChunks - c - 1);
        System.arraycopy(firsts, c + 1, firsts, c, nChunks - c - 1);
        chunks[--nChunks] = null;
    }

    private static void move(Chunk a, int from, Chunk b, int to, int len) {
        if (len <= 0) return;
        System.arraycopy(a.start, from, b.start, to, len);
        System.arraycopy(a.last, from, b.last, to, len);
        System.arraycopy(a.data, from, b.data, to, len);
        System.arraycopy(a.flags, from, b.flags, to, len);
        System.arraycopy(a.tag, from, b.tag, to, len);
        if (a.ref != null) System.arraycopy(a.ref, from, b.ref, to, len);
    }

    /** Whether row 1 sorts before row 2 (by start, then last). */
    private static boolean before(long s1, long l1, long s2, long l2) {
        return s1 != s2 ? lt(s1, s2) : lt(l1, l2);
    }
}
