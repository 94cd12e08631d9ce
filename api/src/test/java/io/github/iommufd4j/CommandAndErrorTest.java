package io.github.iommufd4j;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Command numbers and the error format, independent of any backend. */
class CommandAndErrorTest {

    @Test
    void everyCommandIsTheKernelsIoWithTypeSemicolonAndItsNumber() {
        int nr = 0x80;
        for (Command c : Command.values()) {
            if (c == Command.TEST_CMD) {
                assertEquals(0x3ba0, c.request());
                continue;
            }
            assertEquals(0x3b00 | nr, c.request(), c.name());
            nr++;
        }
        assertEquals(0x96, nr, "22 commands, 0x80..0x95");
        assertEquals("IOMMU_IOAS_MAP", Command.IOAS_MAP.ioctlName());
        assertEquals("IOMMU_TEST_CMD", Command.TEST_CMD.ioctlName());
    }

    @Test
    void anErrorNamesTheOperationTheIdsAndTheErrno() {
        IommufdException e = new IommufdException("IOMMU_IOAS_MAP", "ioas=3, iova=0x1000, length=0x2000", 17);
        assertEquals("IOMMU_IOAS_MAP(ioas=3, iova=0x1000, length=0x2000): EEXIST (File exists)", e.getMessage());
        assertEquals(17, e.errno());
        assertEquals("EEXIST", e.errnoName());
        assertEquals("IOMMU_IOAS_MAP", e.operation());
    }

    @Test
    void aMissingCommandSaysWhichKernelHasIt() {
        UnsupportedCommandException e = new UnsupportedCommandException(Command.FAULT_QUEUE_ALLOC, "");
        assertEquals("ENOTTY", e.errnoName());
        assertTrue(e.getMessage().contains("needs Linux 6.11 or later"), e.getMessage());
        assertSame(Command.FAULT_QUEUE_ALLOC, e.command());
    }
}
