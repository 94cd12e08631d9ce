package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Kernel fault injection over each typed operation sequence (fail-nth sweeps, as the kernel's
 * iommufd_fail_nth selftest does in C). Runs where the kernel's iommufd, its mock driver and
 * fault injection are there (the VM tests' mock profile); skipped elsewhere.
 */
class FailNthGuestTest {
    static final long MB = 1 << 20, PAGE = 4096;
    static final Arena ARENA = Arena.ofShared();
    static final MemorySegment BUF = ARENA.allocate(2 * MB, 2 * MB);
    static final MemorySegment RW = ARENA.allocate(PAGE, PAGE);

    @BeforeAll
    static void kernelWithFaultInjection() throws Exception {
        try (Iommufd fd = Iommufd.open()) {
            assumeTrue(fd.backend() == Backend.NATIVE, "needs the kernel's iommufd");
            assumeTrue(fd.mock().isPresent(), "needs CONFIG_IOMMUFD_TEST");
        }
        String why = FailNth.unavailableReason();
        assumeTrue(why == null, why);
        BUF.fill((byte) 1); // touched: no page fault inside the armed window
        RW.fill((byte) 2);
    }

    @AfterAll
    static void free() {
        ARENA.close();
    }

    @Test
    void ioasAllocAndMap() throws Exception {
        FailNthSweep.sweep("IOAS alloc+map", (fd, made) -> {
            Ioas ioas = add(made, fd.allocIoas());
            ioas.map(BUF.asSlice(0, MB), 0x100000, Access.READ_WRITE);
            long iova = ioas.map(BUF.asSlice(MB, MB), Access.READ);
            ioas.copyTo(ioas, 0x100000, PAGE, Access.READ);
            return ioas.unmap(iova, MB);
        });
    }

    @Test
    void mockDomainAttach() throws Exception {
        FailNthSweep.sweep("mock domain attach", (fd, made) -> {
            Ioas ioas = add(made, fd.allocIoas());
            MockDevice dev = fd.mock().addDevice(ioas); // closed with the IOAS until it is moved below
            fd.mock().addDevice(ioas); // shares the auto domain
            ioas.map(BUF, Access.READ_WRITE); // pins the pages into the domain
            HwPagetable hwpt = add(made, fd.allocHwpt(dev.deviceId(), ioas));
            int used = dev.replace(hwpt.id());
            add(made, dev); // now on hwpt: closed before it
            return used == hwpt.id() ? 1 : 0;
        });
    }

    @Test
    void nestedHwptWithFaultQueue() throws Exception {
        FailNthSweep.sweep("HWPT alloc nested with fault queue", (fd, made) -> {
            FaultQueue q = add(made, fd.allocFaultQueue());
            Ioas ioas = add(made, fd.allocIoas());
            MockDevice dev = fd.mock().addDevice(ioas); // closed with the IOAS until it is moved below
            HwPagetable parent = add(made, fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT));
            try (Arena a = Arena.ofConfined()) {
                HwPagetable nested = add(made, fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                        MockDriver.selftestData(a, 7), q));
                dev.replace(nested.id());
                add(made, dev); // now on the nested table: closed before it
                fd.mock().checkIotlb(nested.id(), 0, 7);
            }
            return 1;
        });
    }

    @Test
    void faultQueueTriggerAndRespond() throws Exception {
        PageFaults batch = new PageFaults(8);
        PageResponses answers = new PageResponses(8);
        FailNthSweep.sweep("fault queue alloc + trigger + respond", (fd, made) -> {
            FaultQueue q = add(made, fd.allocFaultQueue());
            Ioas ioas = add(made, fd.allocIoas());
            MockDevice dev = fd.mock().addFaultingDevice(ioas, q);
            dev.triggerPageFault(0, 1, PageFaults.PERM_READ, 0x1000);
            dev.triggerPageFault(5, 2, PageFaults.PERM_WRITE, 0x2000);
            int n = q.read(batch); // a failed fault allocation drops the fault: fewer may arrive
            for (int i = 0; i < n; i++) answers.add(batch.cookie(i), PageResponses.SUCCESS);
            q.respond(answers);
            return n;
        });
    }

    @Test
    void accessReadWriteAndPin() throws Exception {
        MemorySegment back = ARENA.allocate(PAGE, PAGE);
        FailNthSweep.sweep("access rw", (fd, made) -> {
            Ioas ioas = add(made, fd.allocIoas());
            ioas.map(BUF.asSlice(0, 4 * PAGE), 0x400000, Access.READ_WRITE);
            MockAccess access = add(made, fd.mock().createAccess(ioas, true));
            access.rw(0x400000 + 100, RW, true);
            access.rw(0x400000 + 100, back, false);
            access.unpin(access.pin(0x400000, 2 * PAGE, true));
            return back.mismatch(RW) == -1 ? 1 : 0;
        });
        assertEquals(2, back.get(JAVA_BYTE, 0));
    }

    static <T extends AutoCloseable> T add(java.util.List<AutoCloseable> made, T h) {
        made.add(h);
        return h;
    }
}
