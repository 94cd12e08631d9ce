package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.UnsupportedCommandException;
import io.github.iommufd4j.bindings.Libc;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * On a kernel without the Linux 6.13+ commands (6.12), each typed method for them fails with
 * {@link UnsupportedCommandException} naming the release that has it. Runs natively on the 6.12
 * guest and, on the host, on the software backend reproducing 6.12.
 */
class Linux612RefusalsContractTest extends ContractTestBase {
    static final List<Command> LINUX_7_COMMANDS = List.of(Command.IOAS_MAP_FILE, Command.VIOMMU_ALLOC, Command.VDEVICE_ALLOC,
            Command.IOAS_CHANGE_PROCESS, Command.VEVENTQ_ALLOC, Command.HW_QUEUE_ALLOC, Command.IOAS_NOIOMMU_GET_PA);

    @Test
    void everyLinux7CommandIsRefusedAsUnsupported() throws Exception {
        Iommufd old = kernelBefore613();
        try {
            assertRefused(old);
        } finally {
            if (old != fd) old.close();
        }
    }

    private static void assertRefused(Iommufd old) throws Exception {
        {
            for (Command c : LINUX_7_COMMANDS) assertFalse(old.supports(c), c.name());
            assertTrue(old.supports(Command.IOAS_MAP));
            Ioas ioas = old.allocIoas();
            int file = Libc.memfdCreate("iommufd4j-test", Libc.MFD_CLOEXEC);
            try {
                assertEquals(0, Libc.ftruncate(file, PAGE));
                var e = assertThrows(UnsupportedCommandException.class, () -> ioas.mapFile(file, 0, PAGE, Access.READ));
                assertEquals(Command.IOAS_MAP_FILE, e.command());
                assertEquals("ENOTTY", e.errnoName());
                assertTrue(e.getMessage().contains("IOMMU_IOAS_MAP_FILE needs Linux 6.13"), e.getMessage());
            } finally {
                Libc.close(file);
            }
            assertThrows(UnsupportedCommandException.class, old::changeProcess);
            assertThrows(UnsupportedCommandException.class, () -> ioas.noiommuGetPa(0, PAGE));
            if (old.mock().isPresent()) {
                MockDevice dev = old.mock().addDevice(ioas);
                HwPagetable parent = old.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
                var e = assertThrows(UnsupportedCommandException.class,
                        () -> old.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL));
                assertEquals(Command.VIOMMU_ALLOC, e.command());
                parent.close(); // nothing was left behind on it
            }
        }
    }
}
