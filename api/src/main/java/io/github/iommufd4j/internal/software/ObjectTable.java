package io.github.iommufd4j.internal.software;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

/**
 * The iommufd's object IDs (docs/kernel-behaviour.md §2.1): u32 IDs from 1 to 0x7fffffff, the
 * lowest free one first. An ID is reserved when an object starts being created and published when
 * it is complete; reserved IDs look missing to lookups and DESTROY, and a failed creation releases
 * its ID.
 */
final class ObjectTable {
    private static final int MAX_ID = 0x7fffffff;
    private final BitSet used = new BitSet();
    private SwObject[] slots = new SwObject[64];

    /** Reserves the lowest free ID (EBUSY when the space is full, as the xarray reports). */
    int reserve() {
        int id = used.nextClearBit(1);
        Err.when(id <= 0 || id > MAX_ID, Err.EBUSY);
        used.set(id);
        if (id >= slots.length) slots = Arrays.copyOf(slots, Math.max(slots.length * 2, id + 1));
        return id;
    }

    void publish(SwObject o) {
        slots[o.id] = o;
    }

    /** Frees an ID (reserved or published); it is reusable at once. */
    void release(int id) {
        slots[id] = null;
        used.clear(id);
    }

    /**
     * 7.3 tombstone (docs/kernel-behaviour.md §2.1): the object is gone but its ID stays used,
     * looking missing, until the iommufd is closed.
     */
    void tombstone(int id) {
        slots[id] = null;
    }

    /** The published object with this ID, or null. */
    SwObject get(int id) {
        SwObject[] s = slots;
        return id > 0 && id < s.length ? s[id] : null;
    }

    /** The object if it exists and has this kind; otherwise ENOENT (docs/kernel-behaviour.md §2.2). */
    SwObject get(int id, SwObject.Kind kind) {
        SwObject o = get(id);
        Err.when(o == null || o.kind() != kind, Err.ENOENT);
        return o;
    }

    /** True when no ID is in use, counting reserved and hidden ones. */
    boolean isEmpty() {
        return used.isEmpty();
    }

    List<SwObject> all() {
        List<SwObject> out = new ArrayList<>();
        for (SwObject o : slots) if (o != null) out.add(o);
        return out;
    }

    void clear() {
        used.clear();
        slots = new SwObject[64];
    }
}
