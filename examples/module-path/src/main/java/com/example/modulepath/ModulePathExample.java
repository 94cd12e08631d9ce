package com.example.modulepath;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultPump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * iommufd4j on the module path: an IOAS with 2 MiB mapped, a mock device whose I/O page faults
 * go to a fault queue, one fault answered by the fault pump's handler. Exits with 1 if a check
 * fails.
 *
 * <p>Run with {@code --enable-native-access=io.github.iommufd4j.bindings,io.github.iommufd4j.api}.
 */
public final class ModulePathExample {
    private static final long SIZE = 2 << 20;
    private static int failures;

    public static void main(String[] args) throws Exception {
        check("io.github.iommufd4j.api".equals(Iommufd.class.getModule().getName()),
                "the library is the named module " + Iommufd.class.getModule());

        Iommufd fd = openWithMockDriver();
        try (fd; Arena arena = Arena.ofShared()) {
            System.out.println("backend: " + fd.backend() + " (" + fd.backendReason() + ")");
            Ioas ioas = fd.allocIoas();

            // The device first: attaching it limits the IOAS to the mock IOMMU's aperture.
            FaultQueue faults = fd.allocFaultQueue();
            MockDevice device = fd.mock().addFaultingDevice(ioas, faults);

            MemorySegment guestRam = arena.allocate(SIZE, SIZE);
            long iova = ioas.map(guestRam, Access.READ_WRITE);
            check(iova % 4096 == 0, "2 MiB mapped at IOVA 0x" + Long.toHexString(iova));

            // The handler runs on the pump's thread and answers at once.
            CompletableFuture<String> seen = new CompletableFuture<>();
            FaultPump pump = FaultPump.start(faults, (queue, f, first, count, ticket) -> {
                seen.complete("device " + f.deviceId(first) + " address 0x" + Long.toHexString(f.address(first))
                        + " perm " + f.perm(first) + " records " + count);
                return PageResponses.SUCCESS;
            });
            try (pump) {
                device.triggerPageFault(0, 1, PageFaults.PERM_READ, iova + 0x1000);
                String fault = seen.get(30, TimeUnit.SECONDS);
                check(fault.equals("device " + device.deviceId() + " address 0x" + Long.toHexString(iova + 0x1000)
                        + " perm " + PageFaults.PERM_READ + " records 1"), "the pump handled the fault: " + fault);
            }
            // Closed, the pump's counts are final; it counts a batch once it has written its answers.
            check(pump.faults() == 1 && pump.groups() == 1, "the pump answered 1 fault in 1 group");
            check(pump.failure() == null && pump.handlerErrors() == 0, "the pump reported no error");
            check(ioas.unmap(iova, SIZE) == SIZE, "2 MiB unmapped");
        }
        check(fd.isClosed(), "the iommufd is closed");
        System.out.println(failures == 0 ? "module-path example: all checks passed" : "module-path example: " + failures + " checks FAILED");
        System.exit(failures == 0 ? 0 : 1);
    }

    /**
     * The kernel's iommufd where /dev/iommu opens, else the software backend; the software one
     * also when the kernel lacks the mock driver (CONFIG_IOMMUFD_TEST, absent from production
     * kernels), which the mock device needs.
     */
    private static Iommufd openWithMockDriver() throws IommufdException {
        Iommufd fd = Iommufd.open();
        if (fd.mock().isPresent()) return fd;
        fd.close();
        System.out.println("no iommufd mock driver in this kernel: using the software backend");
        return Iommufd.open(Backend.SOFTWARE);
    }

    private static void check(boolean ok, String what) {
        System.out.println((ok ? "ok      " : "FAILED  ") + what);
        if (!ok) failures++;
    }
}
