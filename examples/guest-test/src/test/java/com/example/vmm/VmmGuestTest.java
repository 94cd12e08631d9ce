package com.example.vmm;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import io.github.iommufd4j.junit.GuestTest;
import io.github.iommufd4j.junit.Profile;
import io.github.iommufd4j.pump.FaultHandler;
import io.github.iommufd4j.pump.FaultPump;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * What a VMM does with a device that faults on guest memory: map the guest's RAM, attach the
 * device on a nested page table with I/O page faults, and answer the faults through the fault
 * pump. Runs in a Linux 7.3 guest (the kernel's iommufd and its mock driver), built and cached on
 * first use; skipped with the reason where no guest can be booted.
 */
@GuestTest(kernel = "7.3", profile = Profile.MOCK)
class VmmGuestTest {
    static final long PAGE = 4096, GUEST_RAM_IOVA = MockDriver.APERTURE_START;
    static final int FAULTS = 64;

    @Test
    void guestMemoryIsMappedAndTheDevicesPageFaultsAreAnsweredThroughThePump() throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.NATIVE); Arena arena = Arena.ofShared()) {
            Ioas ioas = fd.allocIoas();
            MemorySegment guestRam = arena.allocate(16 * PAGE, PAGE);
            ioas.map(guestRam, GUEST_RAM_IOVA, Access.READ_WRITE);
            MockDevice device = fd.mock().addDevice(ioas);
            fd.mock().checkMap(device.hwptId(), GUEST_RAM_IOVA, guestRam);

            FaultQueue faults = fd.allocFaultQueue();
            MockDevice faulting = fd.mock().addFaultingDevice(ioas, faults);
            Set<Long> addresses = ConcurrentHashMap.newKeySet();
            FaultHandler handler = (queue, f, first, count, ticket) -> {
                for (int i = first; i < first + count; i++) addresses.add(f.address(i));
                return PageResponses.SUCCESS;
            };
            try (FaultPump pump = FaultPump.start(List.of(faults), handler, 16, 64)) {
                for (int n = 0; n < FAULTS; n++) {
                    faulting.triggerPageFault(0, n, PageFaults.PERM_READ, GUEST_RAM_IOVA + n * PAGE);
                }
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (pump.faults() < FAULTS && pump.failure() == null && System.nanoTime() < deadline) Thread.sleep(5);
                assertNull(pump.failure());
                assertEquals(FAULTS, pump.faults());
            }
            assertEquals(FAULTS, addresses.size());
            assertEquals(0, faults.read(new PageFaults(4))); // every fault was answered
        }
    }
}
