package io.github.iommufd4j.pump;

import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pump's record batches refuse bad sizes and memory with clear messages, and print themselves. */
class PageBatchesTest {

    @Test
    void pageFaultsRefuseBadCapacitiesAndMemory() {
        for (int capacity : new int[] {-1, 0, PageFaults.MAX_CAPACITY + 1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PageFaults(capacity));
            assertTrue(e.getMessage().startsWith("capacity must be 1.."), e.getMessage());
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment native80 = arena.allocate(80, 8);
            assertEquals(2, new PageFaults(native80, 2).capacity());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new PageFaults(native80, -1)).getMessage()
                    .contains("capacity must be 1.."));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new PageFaults(native80, 3)).getMessage()
                    .contains("80 bytes too small for 3 records"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new PageFaults(MemorySegment.ofArray(new long[10]), 2))
                    .getMessage().contains("native memory"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new PageFaults(native80.asReadOnly(), 2))
                    .getMessage().contains("read-only"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> new PageFaults(native80.asSlice(4, 40), 1))
                    .getMessage().contains("aligned"));
            assertThrows(IllegalArgumentException.class, () -> new PageFaults(null, 1));
        }
    }

    @Test
    void pageFaultsCountAndRecordIndicesAreChecked() {
        PageFaults one = new PageFaults(1);
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> one.setCount(5));
        assertEquals("count 5 outside 0..1 (the batch's capacity)", e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> one.setCount(-1));
        assertEquals("record 0 of a batch of 0 records read",
                assertThrows(IndexOutOfBoundsException.class, () -> one.cookie(0)).getMessage());
        assertEquals("PageFaults[0 of 1]", one.toString());
        one.setCount(1);
        one.buffer().set(java.lang.foreign.ValueLayout.JAVA_INT, 0, PageFaults.FLAG_LAST_PAGE);
        assertTrue(one.toString().startsWith("PageFaults[1 of 1: PageFault[dev=0, pasid=-, grpid=0"), one.toString());
    }

    @Test
    void pageResponsesRefuseBadCapacitiesAndPrintTheirAnswers() {
        for (int capacity : new int[] {-1, 0, PageResponses.MAX_CAPACITY + 1}) {
            assertThrows(IllegalArgumentException.class, () -> new PageResponses(capacity));
        }
        PageResponses r = new PageResponses(3);
        r.add(5, PageResponses.SUCCESS);
        r.add(6, PageResponses.INVALID);
        r.add(7, 9); // written as given: the kernel refuses it
        assertEquals("PageResponses[3 of 3: cookie 5 SUCCESS, cookie 6 INVALID, cookie 7 code 9]", r.toString());
        r.removeFirst(1);
        assertEquals(6, r.cookie(0));
        assertEquals(9, r.code(1));
        assertThrows(IndexOutOfBoundsException.class, () -> r.cookie(2));
        assertThrows(IndexOutOfBoundsException.class, () -> r.removeFirst(3));
    }
}
