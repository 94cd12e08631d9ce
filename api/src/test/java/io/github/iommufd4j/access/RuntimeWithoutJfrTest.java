package io.github.iommufd4j.access;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The api module only {@code requires static jdk.jfr}: in a runtime without the module (as a
 * jlink image may be) the library works, the fault pump and every other call that has a JFR hook
 * included; the events are simply not emitted (loading one would fail).
 */
class RuntimeWithoutJfrTest {

    /** Runs in the child JVM: one fault answered through the pump. */
    public static void main(String[] args) throws Exception {
        System.out.println("jdk.jfr present: " + ModuleLayer.boot().findModule("jdk.jfr").isPresent());
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) {
            FaultQueue q = fd.allocFaultQueue();
            MockDevice dev = fd.mock().addFaultingDevice(fd.allocIoas(), q);
            try (FaultPump pump = FaultPump.start(q, (queue, faults, first, count, ticket) -> PageResponses.SUCCESS)) {
                dev.triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (pump.faults() < 1 && System.nanoTime() < deadline) Thread.sleep(5);
                System.out.println("faults answered: " + pump.faults());
            }
            // Every other JFR hook: a map, an unmap, a failed ioctl and an invalidation.
            Ioas ioas = fd.allocIoas();
            MockDevice plain = fd.mock().addDevice(ioas);
            try (Arena arena = Arena.ofConfined()) {
                long iova = ioas.map(arena.allocate(4096, 4096), Access.READ_WRITE);
                long unmapped = ioas.unmap(iova, 4096);
                String errno;
                try {
                    ioas.unmap(iova, 4096);
                    errno = "none";
                } catch (IommufdException e) {
                    errno = e.errnoName();
                }
                HwPagetable parent = fd.allocHwpt(plain.deviceId(), ioas, HwptFlag.NEST_PARENT);
                HwPagetable nested = fd.allocNestedHwpt(plain.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                        MockDriver.selftestData(arena, MockDriver.IOTLB_DEFAULT), null);
                int handled = nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, arena.allocate(8, 4), 8, 1);
                System.out.println("unmapped " + unmapped + ", second unmap " + errno + ", invalidated " + handled);
            }
        }
    }

    @Test
    void thePumpRunsInARuntimeWithoutJfr() throws Exception {
        String sep = java.io.File.pathSeparator;
        String modules = classesOf(Iommufd.class) + sep + classesOf(io.github.iommufd4j.bindings.Libc.class);
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--limit-modules", "io.github.iommufd4j.api", "--add-modules", "io.github.iommufd4j.api",
                "--enable-native-access=io.github.iommufd4j.bindings,io.github.iommufd4j.api",
                "-p", modules, "-cp", classesOf(RuntimeWithoutJfrTest.class), RuntimeWithoutJfrTest.class.getName()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("jdk.jfr present: false"), out);
        assertTrue(out.contains("faults answered: 1"), out);
        assertTrue(out.contains("unmapped 4096, second unmap ENOENT, invalidated 1"), out);
    }

    private static String classesOf(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
