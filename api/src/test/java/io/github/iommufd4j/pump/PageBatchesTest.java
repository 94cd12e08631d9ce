package io.github.iommufd4j.pump;

import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_page_response;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_pgfault;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        one.buffer().set(java.lang.foreign.ValueLayout.JAVA_INT, 0, PageFaults.FLAG_LAST_PAGE);
        one.setCount(1);
        assertTrue(one.toString().startsWith("PageFaults[1 of 1: PageFault[dev=0, pasid=-, grpid=0"), one.toString());
        assertTrue(one.toString().endsWith(", last]]"), one.toString());
    }

    /** The getters return every field as the kernel's struct layout has it, for batches larger than the first array too. */
    @Test
    void pageFaultsDecodeEveryFieldAsWrittenAtSetCount() {
        int n = 300;
        PageFaults batch = new PageFaults(n);
        for (int i = 0; i < n; i++) {
            MemorySegment r = batch.buffer().asSlice((long) i * PageFaults.RECORD, PageFaults.RECORD);
            iommu_hwpt_pgfault.flags(r, i % 2 == 0 ? PageFaults.FLAG_LAST_PAGE : PageFaults.FLAG_PASID_VALID);
            iommu_hwpt_pgfault.dev_id(r, 1000 + i);
            iommu_hwpt_pgfault.pasid(r, 2000 + i);
            iommu_hwpt_pgfault.grpid(r, 3000 + i);
            iommu_hwpt_pgfault.perm(r, PageFaults.PERM_WRITE);
            iommu_hwpt_pgfault.addr(r, 0xfedc_ba98_0000_0000L + ((long) i << 12));
            iommu_hwpt_pgfault.length(r, -i);
            iommu_hwpt_pgfault.cookie(r, 0x8000_0000 | i);
        }
        batch.setCount(n);
        for (int i : new int[] {0, 1, 255, 256, n - 1}) {
            assertEquals(i % 2 == 0, batch.lastPage(i));
            assertEquals(i % 2 != 0, batch.pasidValid(i));
            assertEquals(1000 + i, batch.deviceId(i));
            assertEquals(2000 + i, batch.pasid(i));
            assertEquals(3000 + i, batch.groupId(i));
            assertEquals(PageFaults.PERM_WRITE, batch.perm(i));
            assertEquals(0xfedc_ba98_0000_0000L + ((long) i << 12), batch.address(i));
            assertEquals(-i, batch.length(i));
            assertEquals(0x8000_0000 | i, batch.cookie(i));
        }
        // The records were taken in at setCount: a later write shows after the next setCount.
        iommu_hwpt_pgfault.cookie(batch.buffer(), 77);
        assertEquals(0x8000_0000, batch.cookie(0));
        batch.setCount(1);
        assertEquals(77, batch.cookie(0));
        assertThrows(IndexOutOfBoundsException.class, () -> batch.cookie(1));
    }

    /** Records over caller memory that was freed: setCount says so and the batch stays empty, no stale record is read. */
    @Test
    void pageFaultsOverFreedMemoryRefuseSetCount() {
        Arena arena = Arena.ofConfined();
        PageFaults batch = new PageFaults(arena.allocate(2L * PageFaults.RECORD, 8), 2);
        arena.close();
        assertThrows(IllegalStateException.class, () -> batch.setCount(2));
        assertEquals(0, batch.count());
        assertThrows(IndexOutOfBoundsException.class, () -> batch.cookie(0));
    }

    /** buffer() holds the queued answers in the kernel's layout, after adds beyond the first array and removals. */
    @Test
    void pageResponsesBufferHoldsTheQueuedAnswers() {
        PageResponses r = new PageResponses(1000);
        for (int i = 0; i < 600; i++) assertTrue(r.add(0x8000_0000 | i, i % 3 == 0 ? PageResponses.INVALID : PageResponses.SUCCESS));
        MemorySegment b = r.buffer();
        for (int i : new int[] {0, 1, 255, 256, 599}) {
            MemorySegment rec = b.asSlice((long) i * PageResponses.RECORD, PageResponses.RECORD);
            assertEquals(0x8000_0000 | i, iommu_hwpt_page_response.cookie(rec));
            assertEquals(i % 3 == 0 ? PageResponses.INVALID : PageResponses.SUCCESS, iommu_hwpt_page_response.code(rec));
            assertEquals(0x8000_0000 | i, r.cookie(i));
        }
        r.removeFirst(100);
        assertEquals(500, r.count());
        assertEquals(0x8000_0000 | 100, iommu_hwpt_page_response.cookie(r.buffer()));
        assertEquals(0x8000_0000 | 599, r.cookie(499));
        r.clear();
        for (int i = 0; i < 1000; i++) assertTrue(r.add(i, PageResponses.SUCCESS));
        assertFalse(r.add(1000, PageResponses.SUCCESS), "full at its capacity");
        assertEquals(999, iommu_hwpt_page_response.cookie(r.buffer().asSlice(999L * PageResponses.RECORD)));
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
