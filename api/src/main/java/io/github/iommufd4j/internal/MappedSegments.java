package io.github.iommufd4j.internal;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

/**
 * The segments an IOAS has mapped, by IOVA, so they stay reachable while mapped (an automatic
 * arena must not free memory a device may still reach). An open-addressing hash table with
 * linear probing: put and remove allocate nothing (the arrays grow by doubling), which keeps
 * map/unmap allocation-free in steady state. Thread-safe (one lock; the kernel call is not
 * made under it).
 */
public final class MappedSegments {
    private static final long EMPTY = Long.MIN_VALUE + 0x5a5a; // marks a free slot
    /** The entry whose IOVA happens to equal EMPTY lives outside the table. */
    private MemorySegment atEmptyKey;
    private long[] keys;
    /** Every key lies in {@code [lowest, highest]} (unsigned; not narrowed on removal): a range outside needs no scan. */
    private long lowest = -1L, highest = 0;
    /** Object[], not MemorySegment[]: a store needs no type check against an interface. */
    private Object[] values;
    private int size;

    public MappedSegments() {
        keys = new long[64];
        values = new Object[64];
        java.util.Arrays.fill(keys, EMPTY);
    }

    private static int hash(long k, int mask) {
        long h = k * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & mask;
    }

    public synchronized void put(long iova, MemorySegment segment) {
        if (iova == EMPTY) {
            atEmptyKey = segment;
            return;
        }
        if ((size + 1) * 4 > keys.length * 3) grow();
        if (Long.compareUnsigned(iova, lowest) < 0) lowest = iova;
        if (Long.compareUnsigned(iova, highest) > 0) highest = iova;
        int mask = keys.length - 1;
        for (int i = hash(iova, mask); ; i = (i + 1) & mask) {
            if (keys[i] == EMPTY) {
                keys[i] = iova;
                values[i] = segment;
                size++;
                return;
            }
            if (keys[i] == iova) {
                values[i] = segment;
                return;
            }
        }
    }

    /** The segment mapped at exactly {@code iova}, or null. */
    public synchronized MemorySegment get(long iova) {
        if (iova == EMPTY) return atEmptyKey;
        int mask = keys.length - 1;
        for (int i = hash(iova, mask); keys[i] != EMPTY; i = (i + 1) & mask) {
            if (keys[i] == iova) return (MemorySegment) values[i];
        }
        return null;
    }

    /**
     * Removes the entry at exactly {@code iova} if its segment is {@code size} bytes long (an unmap
     * of one whole mapping: one lock instead of a lookup and a removal); returns that segment, or
     * null with nothing removed.
     */
    public synchronized MemorySegment removeIfSize(long iova, long size) {
        return removeAt(iova, size);
    }

    /** Removes the entry at exactly {@code iova}; returns its segment or null. */
    public synchronized MemorySegment remove(long iova) {
        return removeAt(iova, -1);
    }

    /** The removal of both: {@code size} -1 matches any segment. */
    private MemorySegment removeAt(long iova, long size) {
        if (iova == EMPTY) {
            MemorySegment v = atEmptyKey;
            if (v == null || size >= 0 && v.byteSize() != size) return null;
            atEmptyKey = null;
            return v;
        }
        int mask = keys.length - 1;
        for (int i = hash(iova, mask); keys[i] != EMPTY; i = (i + 1) & mask) {
            if (keys[i] == iova) {
                MemorySegment v = (MemorySegment) values[i];
                if (size >= 0 && v.byteSize() != size) return null;
                deleteAt(i);
                return v;
            }
        }
        return null;
    }

    /**
     * Whether the table is empty, read without the lock: true only when no entry was put that
     * happened-before this read. For a caller about to remove entries, a stale answer leaves an
     * entry in place (its segment reachable until the next removal or the IOAS closes), never
     * drops one too early.
     */
    public boolean isEmptyUnlocked() {
        return size == 0 && atEmptyKey == null;
    }

    /** Removes every mapping lying wholly inside {@code [first, last]} (unsigned), passing each to {@code removed}. */
    public synchronized void removeWithin(long first, long last, Consumer<MemorySegment> removed) {
        if (atEmptyKey != null && Long.compareUnsigned(EMPTY, first) >= 0
                && Long.compareUnsigned(EMPTY + atEmptyKey.byteSize() - 1, last) <= 0) {
            removed.accept(remove(EMPTY));
        }
        if (size == 0 || Long.compareUnsigned(last, lowest) < 0 || Long.compareUnsigned(first, highest) > 0) return;
        for (int i = 0; i < keys.length; ) {
            long k = keys[i];
            if (k != EMPTY && Long.compareUnsigned(k, first) >= 0
                    && Long.compareUnsigned(k + ((MemorySegment) values[i]).byteSize() - 1, last) <= 0) {
                MemorySegment v = (MemorySegment) values[i];
                deleteAt(i); // shifts a later entry into slot i: look at i again
                removed.accept(v);
            } else {
                i++;
            }
        }
    }

    /** The (IOVA, segment) entries that overlap {@code [first, last]} (unsigned). */
    public synchronized java.util.List<java.util.Map.Entry<Long, MemorySegment>> overlapping(long first, long last) {
        java.util.List<java.util.Map.Entry<Long, MemorySegment>> out = new java.util.ArrayList<>();
        for (int i = -1; i < keys.length; i++) {
            long k = i < 0 ? EMPTY : keys[i];
            MemorySegment v = i < 0 ? atEmptyKey : (MemorySegment) values[i];
            if (v == null || (i >= 0 && k == EMPTY) || v.byteSize() == 0) continue;
            if (Long.compareUnsigned(k, last) <= 0 && Long.compareUnsigned(k + v.byteSize() - 1, first) >= 0) {
                out.add(java.util.Map.entry(k, v));
            }
        }
        return out;
    }

    public synchronized int size() {
        return size + (atEmptyKey != null ? 1 : 0);
    }

    /** Backward-shift deletion keeps probe chains intact without tombstones. */
    private void deleteAt(int i) {
        int mask = keys.length - 1;
        int hole = i;
        for (int j = (i + 1) & mask; keys[j] != EMPTY; j = (j + 1) & mask) {
            int home = hash(keys[j], mask);
            // Move j into the hole if its home is not in (hole, j] cyclically.
            boolean between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!between) {
                keys[hole] = keys[j];
                values[hole] = values[j];
                hole = j;
            }
        }
        keys[hole] = EMPTY;
        values[hole] = null;
        if (--size == 0) {
            lowest = -1L;
            highest = 0;
        }
    }

    private void grow() {
        long[] oldKeys = keys;
        Object[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new Object[oldKeys.length * 2];
        java.util.Arrays.fill(keys, EMPTY);
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) put(oldKeys[i], (MemorySegment) oldValues[i]);
        }
    }
}
