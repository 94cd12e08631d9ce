package io.github.iommufd4j.snippets;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.EventQueue;
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
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.VirtualEvents;
import io.github.iommufd4j.pump.FaultPump;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The {@code {@snippet}} examples of the API's Javadoc (regions marked {@code @start}/{@code @end}),
 * compiled with the tests and run by {@code SnippetsTest} on the software backend, so an example
 * that stops compiling or working fails the build. Each method returns what the test checks.
 */
public final class Snippets {
    private Snippets() {}

    /** Iommufd: open, choose and report the backend, close. */
    static String open() throws IommufdException {
        // @start region=open
        try (Iommufd fd = Iommufd.open()) { // AUTO: /dev/iommu if usable, else the software backend
            System.out.println(fd.backend() + ": " + fd.backendReason());
            Ioas ioas = fd.allocIoas();     // closed with fd
            return fd.backend() + " " + ioas;
        } // closes every handle made from fd, then the fd
        // @end
    }

    /** Iommufd: why the kernel's iommufd cannot be used here. */
    static String availability() {
        // @start region=availability
        var a = Iommufd.availability();
        if (!a.available()) {
            System.out.println("kernel iommufd unusable: " + a.reason()); // e.g. permission denied on /dev/iommu
        }
        // @end
        return a.reason();
    }

    /** Ioas: map guest RAM at a kernel-chosen and at a fixed IOVA, unmap. */
    static long map(Iommufd fd) throws IommufdException {
        // @start region=map
        try (Arena arena = Arena.ofShared()) {           // outlives the mappings
            Ioas ioas = fd.allocIoas();
            MemorySegment ram = arena.allocate(2 << 20, 4096); // 2 MiB of guest RAM, page aligned
            long iova = ioas.map(ram, Access.READ_WRITE);       // the kernel picks the IOVA
            ioas.map(ram.asSlice(0, 4096), 0x4000_0000L, Access.READ); // FIXED_IOVA, read-only for the device
            long unmapped = ioas.unmap(iova, ram.byteSize());   // whole mappings only
            ioas.close(); // unmaps the rest; the arena may close after this
            return unmapped;
        }
        // @end
    }

    /** Ioas: an error carries the errno, the command and the ids. */
    static String mapError(Iommufd fd, Arena arena) throws IommufdException {
        Ioas ioas = fd.allocIoas();
        MemorySegment ram = arena.allocate(8192, 4096);
        // @start region=errors
        ioas.map(ram, 0x10000, Access.READ_WRITE);
        try {
            ioas.map(ram, 0x10000, Access.READ_WRITE); // the same IOVA again
        } catch (IommufdException e) {
            // IOMMU_IOAS_MAP(ioas=1, iova=0x10000, length=0x2000, access=READ_WRITE): EEXIST (File exists)
            System.out.println(e.getMessage());
            return e.errnoName();                       // "EEXIST", e.errno() == 17
        }
        // @end
        return "no error";
    }

    /** HwPagetable: a dirty-tracking page table for live migration. */
    static byte dirty(Iommufd fd, Arena arena) throws IommufdException {
        Ioas ioas = fd.allocIoas();
        MockDevice device = fd.mock().addDevice(ioas);
        MockDriver mock = fd.mock();
        // @start region=dirty
        HwPagetable hwpt = fd.allocHwpt(device.deviceId(), ioas, HwptFlag.DIRTY_TRACKING);
        device.replace(hwpt.id());                        // the device now translates through hwpt
        long page = 4096, length = 64 * page;
        MemorySegment ram = arena.allocate(length, page);
        long iova = ioas.map(ram, Access.READ_WRITE);
        hwpt.setDirtyTracking(true);
        // ... the device writes guest RAM (here: the mock driver marks pages 0 and 1 dirty) ...
        MemorySegment marks = arena.allocate(8);
        marks.set(ValueLayout.JAVA_BYTE, 0, (byte) 0b11);
        mock.markDirty(hwpt.id(), iova, length, page, marks);
        MemorySegment bitmap = arena.allocate(8, 8);      // one bit per page, whole 64-bit words
        hwpt.dirtyBitmap(iova, length, page, bitmap, false); // reads and clears the dirty state
        byte firstPages = bitmap.get(ValueLayout.JAVA_BYTE, 0); // bit i set: page i was written
        // @end
        return firstPages;
    }

    /** FaultQueue: read and answer faults without the pump. */
    static int faultQueue(Iommufd fd) throws IommufdException {
        Ioas ioas = fd.allocIoas();
        FaultQueue faults = fd.allocFaultQueue();
        MockDevice device = fd.mock().addFaultingDevice(ioas, faults);
        device.triggerPageFault(0, 7, PageFaults.PERM_READ, 0x10000);
        // @start region=fault-queue
        PageFaults batch = new PageFaults(64);       // reused: reading allocates nothing
        PageResponses answers = new PageResponses(64);
        int n = faults.readBlocking(batch, 1000);   // waits up to 1 s; whole groups only
        for (int i = 0; i < n; i++) {
            // ... make batch.address(i) present for batch.deviceId(i), batch.pasid(i) ...
            if (batch.lastPage(i)) answers.add(batch.cookie(i), PageResponses.SUCCESS); // one answer per group
        }
        faults.respond(answers);                    // one write(2) for the batch
        // @end
        return n;
    }

    /** FaultPump: the centrepiece. */
    static String pump(Iommufd fd) throws Exception {
        // @start region=pump
        Ioas ioas = fd.allocIoas();
        FaultQueue faults = fd.allocFaultQueue();
        // Devices whose page table was allocated with this queue report I/O page faults to it.
        MockDevice device = fd.mock().addFaultingDevice(ioas, faults);

        CompletableFuture<String> seen = new CompletableFuture<>();
        try (FaultPump pump = FaultPump.start(faults, (queue, f, first, count, ticket) -> {
            // On the pump's thread: records first .. first+count-1 are one page request group,
            // valid only during this call. Fault the pages in, then answer the group.
            seen.complete("dev " + f.deviceId(first) + " addr 0x" + Long.toHexString(f.address(first)));
            return PageResponses.SUCCESS;   // or INVALID, or FaultHandler.DEFERRED and pump.respond(ticket, code) later
        })) {
            device.triggerPageFault(0, 1, PageFaults.PERM_READ, 0x20000);
            return seen.get(30, TimeUnit.SECONDS);
        }
        // @end
    }

    /** FaultPump: a group answered later from another thread. */
    static boolean deferred(Iommufd fd) throws Exception {
        Ioas ioas = fd.allocIoas();
        FaultQueue faults = fd.allocFaultQueue();
        MockDevice device = fd.mock().addFaultingDevice(ioas, faults);
        // @start region=deferred
        CompletableFuture<Long> tickets = new CompletableFuture<>();
        try (FaultPump pump = FaultPump.start(faults, (queue, f, first, count, ticket) -> {
            tickets.complete(ticket);                          // hand the group to a worker
            return io.github.iommufd4j.pump.FaultHandler.DEFERRED;
        })) {
            device.triggerPageFault(0, 1, PageFaults.PERM_WRITE, 0x30000);
            long ticket = tickets.get(30, TimeUnit.SECONDS);
            // ... on any thread, once the page is in place:
            return pump.respond(ticket, PageResponses.SUCCESS); // false once the pump is closed
        }
        // @end
    }

    /** Viommu and EventQueue: a guest-visible vIOMMU, its vDEVICE and virtual events. */
    static int viommu(Iommufd fd, Arena arena) throws IommufdException {
        Ioas ioas = fd.allocIoas();
        MockDevice device = fd.mock().addDevice(ioas);
        int deviceId = device.deviceId();
        // @start region=viommu
        HwPagetable parent = fd.allocHwpt(deviceId, ioas, HwptFlag.NEST_PARENT); // stage 2: guest RAM
        Viommu viommu = fd.allocViommu(deviceId, parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
        viommu.allocVdevice(deviceId, 0x42);   // the guest knows the device as 0x42 (e.g. its stream id)
        HwPagetable stage1 = viommu.allocNestedHwpt(deviceId, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, 0), null); // the guest's page table, driver data
        device.replace(stage1.id());
        // @end
        // @start region=event-queue
        EventQueue events = viommu.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 64); // up to 64 pending
        VirtualEvents batch = events.newBatch(16);        // reused for every read
        device.triggerVirtualEvent();
        int n = events.readBlocking(batch, 1000);         // waits up to 1 s
        for (int i = 0; i < n; i++) {
            if (batch.lossBefore(i)) System.out.println("events lost before #" + batch.sequence(i));
            if (!batch.isLostEvents(i)) System.out.println("event for virt_id 0x" + Integer.toHexString(batch.payloadInt(i, 0)));
        }
        // @end
        return n == 1 ? batch.payloadInt(0, 0) : -1;
    }

    /** VfioDevice: bind a real device and give it an address space (native backend only). */
    static int vfio(Iommufd fd, String pciAddress) throws Exception {
        // @start region=vfio
        Path cdev = VfioDevice.cdevOf(pciAddress);            // e.g. "0000:00:03.0" -> /dev/vfio/devices/vfio0
        try (VfioDevice device = VfioDevice.open(fd, cdev)) { // binds it; closing unbinds it
            Ioas ioas = fd.allocIoas();
            int hwpt = device.attach(ioas.id());              // DMA now goes through ioas
            VfioDevice.Region config = device.configSpace();
            MemorySegment id = Arena.ofAuto().allocate(4);
            device.read(config, 0, id);                       // vendor and device id
            return hwpt;
        }
        // @end
    }

    /** MockDriver: device, reserved range, access and checks without hardware. */
    static long mock(Arena arena) throws IommufdException {
        // @start region=mock
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE)) { // or a kernel with CONFIG_IOMMUFD_TEST
            MockDriver mock = fd.mock();
            if (!mock.isPresent()) return -1;
            Ioas ioas = fd.allocIoas();
            MockDevice device = mock.addDevice(ioas);          // bound and attached, like a VFIO device
            mock.addReserved(ioas, 0x10_0000, 0x1000);          // never allocated, never mapped
            MemorySegment ram = arena.allocate(2 * MockDriver.PAGE_SIZE, 4096);
            long iova = ioas.map(ram, Access.READ_WRITE);
            mock.checkMap(device.hwptId(), iova, ram);          // the page table maps exactly ram
            try (var access = mock.createAccess(ioas, false)) { // an emulated device's DMA
                access.rw(iova, arena.allocate(16), true);     // writes 16 bytes at iova
            }
            return iova;
        }
        // @end
    }
}
