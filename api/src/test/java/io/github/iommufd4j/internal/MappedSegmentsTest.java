package io.github.iommufd4j.internal;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MappedSegments behaves like a sorted map under random puts, removes (by key, by key and size) and range removals. */
class MappedSegmentsTest {

    @Property(tries = 200)
    void matchesAReferenceMap(@ForAll @Size(max = 300) List<@IntRange(min = 0, max = 400) Integer> ops) {
        MappedSegments table = new MappedSegments();
        TreeMap<Long, MemorySegment> model = new TreeMap<>(Long::compareUnsigned);
        int step = 0;
        for (int op : ops) {
            long iova = (op % 97) * 0x1000L;
            MemorySegment seg = MemorySegment.ofAddress(0x10000L * op).reinterpret(0x1000);
            switch (step++ % 4) {
                case 0, 1 -> {
                    table.put(iova, seg);
                    model.put(iova, seg);
                }
                case 2 -> {
                    if (op % 2 == 0) {
                        assertEquals(model.remove(iova), table.remove(iova));
                    } else { // every segment is 0x1000 bytes: a wrong size removes nothing
                        long size = op % 3 == 0 ? 0x2000 : 0x1000;
                        assertEquals(size == 0x1000 ? model.remove(iova) : null, table.removeIfSize(iova, size));
                    }
                }
                default -> {
                    long first = iova, last = iova + (op % 7) * 0x1000L + 0xfff;
                    List<MemorySegment> removed = new ArrayList<>();
                    table.removeWithin(first, last, removed::add);
                    var expected = new ArrayList<>(model.subMap(first, true, last, true).values());
                    model.subMap(first, true, last, true).clear();
                    assertEquals(expected.size(), removed.size());
                }
            }
            assertEquals(model.size(), table.size());
        }
        for (var e : model.entrySet()) assertEquals(e.getValue(), table.get(e.getKey()));
    }

    @Test
    void anIovaEqualToTheFreeSlotMarkerWorks() {
        MappedSegments table = new MappedSegments();
        long odd = Long.MIN_VALUE + 0x5a5a;
        MemorySegment seg = MemorySegment.ofAddress(0x1000).reinterpret(16);
        table.put(odd, seg);
        assertEquals(seg, table.get(odd));
        assertEquals(1, table.size());
        assertEquals(null, table.removeIfSize(odd, 32));
        assertEquals(seg, table.removeIfSize(odd, 16));
        table.put(odd, seg);
        assertEquals(seg, table.remove(odd));
        assertEquals(0, table.size());
    }

    @Test
    void removeWithinFindsKeysAtBothEndsOfTheUnsignedRange() {
        MappedSegments table = new MappedSegments();
        MemorySegment seg = MemorySegment.ofAddress(0x1000).reinterpret(0x1000);
        assertTrue(table.isEmptyUnlocked());
        table.put(0xffff_ffff_ffff_e000L, seg);
        table.put(0, seg);
        assertFalse(table.isEmptyUnlocked());
        List<MemorySegment> removed = new ArrayList<>();
        table.removeWithin(0x1000, 0xffff_ffff_ffff_dfffL, removed::add); // between the two: nothing
        assertEquals(0, removed.size());
        table.removeWithin(0xffff_ffff_ffff_0000L, -1L, removed::add);
        assertEquals(1, removed.size());
        table.removeWithin(0, 0xfff, removed::add);
        assertEquals(2, removed.size());
        assertTrue(table.isEmptyUnlocked());
        table.put(0x5000, seg); // emptied: the key bounds start afresh
        table.removeWithin(0x5000, 0x5fff, removed::add);
        assertEquals(3, removed.size());
        assertEquals(0, table.size());
    }

    @Test
    void overlappingFindsEveryEntryTouchingTheRange() {
        MappedSegments table = new MappedSegments();
        for (long i = 0; i < 4; i++) table.put(0x10000 * i, MemorySegment.ofAddress(0x100000 * i).reinterpret(0x2000));
        // [0x11000, 0x20000]: the tail of the entry at 0x10000 and the first byte of the one at 0x20000.
        var hit = table.overlapping(0x11000, 0x20000).stream().map(java.util.Map.Entry::getKey).sorted().toList();
        assertEquals(List.of(0x10000L, 0x20000L), hit);
        assertEquals(List.of(), table.overlapping(0x32000, 0x3ffff));
    }
}
