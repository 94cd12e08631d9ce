package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.testing.Mappings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.github.iommufd4j.testing.Mappings.at;
import static io.github.iommufd4j.testing.Mappings.unmap;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link UserCopy}: copies and pin tests that answer false (EFAULT) for memory that is gone, never a crash. */
class UserCopyTest {
    static final long PAGE = 4096, LEN = 300 << 10; // more than one bounce-buffer chunk
    final Mappings mappings = new Mappings();
    final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        mappings.close();
        arena.close();
    }

    static byte[] random(long n) {
        byte[] b = new byte[(int) n];
        new Random(n).nextBytes(b);
        return b;
    }

    @Test
    void everyPairOfHeapArenaAndRawMemoryCopiesExactly() {
        byte[] expected = random(LEN);
        MemorySegment heap = MemorySegment.ofArray(expected.clone());
        MemorySegment rawA = at(mappings.map(LEN, Libc.PROT_READ | Libc.PROT_WRITE), LEN);
        MemorySegment rawB = at(mappings.map(LEN, Libc.PROT_READ | Libc.PROT_WRITE), LEN);
        MemorySegment owned = arena.allocate(LEN);
        assertTrue(UserCopy.raw(rawA));
        assertFalse(UserCopy.raw(owned));
        assertFalse(UserCopy.raw(heap));
        assertTrue(UserCopy.copy(heap, 0, rawA, 0, LEN));
        assertTrue(UserCopy.copy(rawA, 0, rawB, 0, LEN));
        assertTrue(UserCopy.copy(rawB, 0, owned, 0, LEN));
        byte[] back = new byte[(int) LEN];
        assertTrue(UserCopy.copy(owned, 0, MemorySegment.ofArray(back), 0, LEN));
        assertArrayEquals(expected, back);
        assertTrue(UserCopy.copy(rawA, 5, MemorySegment.ofArray(back), 0, LEN - 5)); // unaligned offsets
        assertArrayEquals(java.util.Arrays.copyOfRange(expected, 5, (int) LEN), java.util.Arrays.copyOf(back, (int) LEN - 5));
    }

    @Test
    void memoryThatIsGoneReadOnlyClosedOrTooSmallGivesFalse() {
        MemorySegment heap = MemorySegment.ofArray(new byte[(int) (2 * PAGE)]);
        long va = mappings.map(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        unmap(va + PAGE, PAGE);
        MemorySegment half = at(va, 2 * PAGE);
        assertFalse(UserCopy.copy(half, 0, heap, 0, 2 * PAGE));
        assertFalse(UserCopy.copy(heap, 0, half, 0, 2 * PAGE));
        assertTrue(UserCopy.copy(heap, 0, half, 0, PAGE));
        unmap(va, PAGE);
        assertFalse(UserCopy.copy(half, 0, heap, 0, 8));

        MemorySegment ro = at(mappings.map(PAGE, Libc.PROT_READ), PAGE);
        assertTrue(UserCopy.copy(ro, 0, heap, 0, PAGE));
        assertFalse(UserCopy.copy(heap, 0, ro, 0, 8));
        assertFalse(UserCopy.copy(heap, 0, arena.allocate(PAGE).asReadOnly(), 0, 8));
        assertFalse(UserCopy.copy(heap, 0, ro.asReadOnly(), 0, 8));
        assertFalse(UserCopy.copy(heap, 0, at(va, 8), 0, 16), "beyond the segment");

        MemorySegment closed;
        try (Arena a = Arena.ofConfined()) {
            closed = a.allocate(PAGE);
        }
        assertFalse(UserCopy.copy(closed, 0, heap, 0, 8));
        assertFalse(UserCopy.copy(heap, 0, closed, 0, 8));
    }

    @Test
    void pinnableFollowsTheMappingAndItsProtection() {
        long va = mappings.map(2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE);
        MemorySegment rw = at(va, 2 * PAGE);
        assertTrue(UserCopy.pinnable(rw, 0, 2 * PAGE, true));
        unmap(va + PAGE, PAGE);
        assertTrue(UserCopy.pinnable(rw, 100, 8, true));
        assertFalse(UserCopy.pinnable(rw, PAGE - 8, 16, false), "the second page is gone");
        MemorySegment ro = at(mappings.map(PAGE, Libc.PROT_READ), PAGE);
        assertTrue(UserCopy.pinnable(ro, 0, PAGE, false));
        assertFalse(UserCopy.pinnable(ro, 0, PAGE, true));
        MemorySegment none = at(mappings.map(PAGE, Libc.PROT_NONE), PAGE);
        assertFalse(UserCopy.pinnable(none, 0, PAGE, false));
        MemorySegment owned = arena.allocate(PAGE);
        assertTrue(UserCopy.pinnable(owned, 0, PAGE, true));
        assertFalse(UserCopy.pinnable(owned.asReadOnly(), 0, PAGE, true));
        assertTrue(UserCopy.pinnable(owned.asReadOnly(), 0, PAGE, false));
    }
}
