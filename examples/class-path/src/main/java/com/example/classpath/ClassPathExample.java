package com.example.classpath;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * iommufd4j on the class path: an IOAS with 2 MiB mapped, a mock device whose I/O page faults go
 * to a fault queue, one fault deferred by the pump's handler and answered from the main thread
 * (as a VMM answers once the guest has resolved the fault). Exits with 1 if a check fails.
 *
 * <p>Run with {@code --enable-native-access=ALL-UNNAMED}.
 */
public final class ClassPathExample {
    private static final long SIZE = 2 << 20;
    private static int failures;

    /** What the handler saw of the fault, and the ticket to answer it with. */
    private record Fault(int deviceId, long address, int count, long ticket) {}

    public static void main(String[] args) throws Exception {
        check(!Iommufd.class.getModule().isNamed(), "the library is on the class path (unnamed module)");

        Iommufd fd = openWithMockDriver();
        try (fd; Arena arena = Arena.ofShared()) {
            System.out.println("backend: " + fd.backend() + " (" + fd.backendReason() + ")");
            Ioas ioas = fd.allocIoas();
            FaultQueue faults = fd.allocFaultQueue();
            MockDevice device = fd.mock().addFaultingDevice(ioas, faults);

            MemorySegment guestRam = arena.allocate(SIZE, SIZE);
            long iova = ioas.map(guestRam, Access.READ_WRITE);
            check(iova % 4096 == 0, "2 MiB mapped at IOVA 0x" + Long.toHexString(iova));

            CompletableFuture<Fault> seen = new CompletableFuture<>();
            FaultHandler defer = (queue, f, first, count, ticket) -> {
                seen.complete(new Fault(f.deviceId(first), f.address(first), count, ticket));
                return FaultHandler.DEFERRED;
            };
            FaultPump pump = FaultPump.start(faults, defer);
            try (pump) {
                device.triggerPageFault(0, 7, PageFaults.PERM_WRITE, iova + SIZE - 0x1000);
                Fault fault = seen.get(30, TimeUnit.SECONDS);
                check(fault.deviceId() == device.deviceId() && fault.address() == iova + SIZE - 0x1000 && fault.count() == 1,
                        "the pump handed over the fault: device " + fault.deviceId() + " address 0x" + Long.toHexString(fault.address()));
                check(pump.respond(fault.ticket(), PageResponses.SUCCESS), "the deferred fault answered through the pump");
            }
            check(pump.faults() == 1 && pump.groups() == 1, "the pump counted 1 fault in 1 group");
            check(pump.failure() == null && pump.handlerErrors() == 0, "the pump reported no error");
            check(ioas.unmap(iova, SIZE) == SIZE, "2 MiB unmapped");
        }
        check(fd.isClosed(), "the iommufd is closed");
        System.out.println(failures == 0 ? "class-path example: all checks passed" : "class-path example: " + failures + " checks FAILED");
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
