package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Which clock a {@code vm bench} guest gets: QEMU's instruction counting unless the environment says otherwise. */
class BenchClockTest {

    @Test
    void instructionCountingByDefaultAndAsTheEnvironmentSays() {
        assertEquals("shift=0,sleep=off", BenchCommand.icount(Map.of()));
        assertEquals("shift=0,sleep=off", BenchCommand.icount(Map.of("IOMMUFD4J_VM_ICOUNT", " ")));
        assertEquals("shift=2,sleep=off", BenchCommand.icount(Map.of("IOMMUFD4J_VM_ICOUNT", "shift=2,sleep=off")));
        assertNull(BenchCommand.icount(Map.of("IOMMUFD4J_VM_ICOUNT", "off")));
    }

    @Test
    void noInstructionCountingWhereQemuCannotCount() {
        assertNull(BenchCommand.icount(Map.of("IOMMUFD4J_VM_ACCEL", "kvm")));
        assertNull(BenchCommand.icount(Map.of("IOMMUFD4J_VM_TCG_THREAD", "multi")));
    }
}
