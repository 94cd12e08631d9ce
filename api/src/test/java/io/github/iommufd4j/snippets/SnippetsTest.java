package io.github.iommufd4j.snippets;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the Javadoc examples ({@link Snippets}) on the software backend: they do what their comments say. */
class SnippetsTest {
    private Iommufd fd;
    private Arena arena;

    @BeforeEach
    void open() throws IommufdException {
        fd = Iommufd.open(Backend.SOFTWARE);
        arena = Arena.ofShared();
    }

    @AfterEach
    void close() {
        fd.close();
        arena.close();
    }

    @Test
    void openNamesTheBackend() throws Exception {
        assertTrue(Snippets.open().matches("(NATIVE|SOFTWARE) Ioas\\[\\d+\\]"));
        assertTrue(!Snippets.availability().isEmpty());
    }

    @Test
    void mapUnmapsTheWhole2MiB() throws Exception {
        assertEquals(2 << 20, Snippets.map(fd));
    }

    @Test
    void theSecondMapIsEexist() throws Exception {
        assertEquals("EEXIST", Snippets.mapError(fd, arena));
    }

    @Test
    void dirtyBitmapShowsTheMarkedPages() throws Exception {
        assertEquals(0b11, Snippets.dirty(fd, arena) & 0b11);
    }

    @Test
    void faultQueueReadsTheTriggeredFault() throws Exception {
        assertEquals(1, Snippets.faultQueue(fd));
    }

    @Test
    void pumpHandlesTheFault() throws Exception {
        assertTrue(Snippets.pump(fd).endsWith(" addr 0x20000"));
    }

    @Test
    void pumpAnswersADeferredGroup() throws Exception {
        assertTrue(Snippets.deferred(fd));
    }

    @Test
    void eventQueueReadsTheVirtualEvent() throws Exception {
        assertEquals(0x42, Snippets.viommu(fd, arena));
    }

    @Test
    void vfioNeedsAVfioDevice() {
        // No VFIO device here: the sysfs lookup fails before anything is opened.
        assertThrows(java.io.IOException.class, () -> Snippets.vfio(fd, "0000:ff:1f.7"));
    }

    @Test
    void mockMapsAndAccesses() throws Exception {
        assertTrue(Snippets.mock(arena) > 0);
    }
}
