package io.github.iommufd4j.contract;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.EventQueue;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.UnsupportedCommandException;
import io.github.iommufd4j.VfioCompat;
import io.github.iommufd4j.Viommu;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.reliability.Leaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import static io.github.iommufd4j.contract.UserMemoryChecksContractTest.closedSegment;
import static io.github.iommufd4j.contract.UserMemoryChecksContractTest.heap;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The lifecycle contract: a call that fails (a closed second handle, a bad segment, null) leaves
 * no handle busy, so closing afterwards returns at once; close wakes threads blocked in
 * {@code await}/{@code readBlocking} with the typed "closed" error; a closed iommufd answers
 * nothing; {@code fromFd} takes only an iommufd; a close the kernel refuses is reported and the
 * object lives until the iommufd closes. Since hangs are what is tested, every close that could
 * hang runs under a bound ({@value #HANG_PROPERTY}, 30 s): a hang fails the test.
 */
class LifecycleContractTest extends ContractTestBase {
    static final String HANG_PROPERTY = "iommufd4j.hang.seconds";
    static final Duration HANG = Duration.ofSeconds(Integer.getInteger(HANG_PROPERTY, 30));

    /** The base class closes the iommufd: here under the hang bound too. */
    @Override
    @AfterEach
    void close() {
        try {
            returnsPromptly("closing the test's iommufd", fd::close);
        } finally {
            arena.close();
        }
    }

    /** Runs {@code op} (which may throw) and fails if it has not returned within {@link #HANG}. */
    static void returnsPromptly(String what, Executable op) {
        assertTimeoutPreemptively(HANG, op, () -> what + " did not return within " + HANG.toSeconds() + " s");
    }

    /** Asserts the operation fails with a {@link NullPointerException} or {@link IllegalArgumentException}. */
    static void assertNullRefused(Op op) {
        RuntimeException e = assertThrows(RuntimeException.class, op::run);
        assertTrue(e instanceof NullPointerException || e instanceof IllegalArgumentException, e.toString());
    }

    // ---- closes racing closes ----

    /**
     * A thread closes a fault queue (its dependents: the IOPF page table, then the faulting
     * device, which is older than that page table) while another closes the iommufd: whichever
     * shuts which handle first, both closes return. The iommufd's close used to wait for the
     * queue's closer while that one waited for it to let go of the device.
     */
    @Test
    void closingAQueueWhileItsIommufdClosesNeverDeadlocks() throws Exception {
        requireMock();
        int rounds = Integer.getInteger("iommufd4j.closeRace.rounds", 500);
        java.util.concurrent.atomic.AtomicInteger errors = new java.util.concurrent.atomic.AtomicInteger();
        for (int i = 0; i < rounds; i++) {
            Iommufd f = Iommufd.open(fd.backend());
            Ioas ioas = f.allocIoas();
            FaultQueue q = f.allocFaultQueue();
            f.mock().addFaultingDevice(ioas, q);
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            int spin = i % 64; // the queue's close starts a little earlier or later each round
            Thread closer = Thread.ofPlatform().daemon().name("queue-closer").start(() -> {
                try {
                    go.await();
                    for (int s = 0; s < spin * 16; s++) Thread.onSpinWait();
                    q.close();
                } catch (IommufdException e) {
                    if (!e.errnoName().equals("EBADF")) errors.incrementAndGet(); // the iommufd closing first destroyed it
                } catch (Throwable t) {
                    errors.incrementAndGet();
                }
            });
            go.countDown();
            returnsPromptly("the iommufd's close racing the queue's (round " + i + ")", f::close);
            closer.join(HANG.toMillis());
            assertFalse(closer.isAlive(), "the queue's close racing the iommufd's did not return (round " + i + ")");
        }
        assertEquals(0, errors.get(), "unexpected errors of the queue's close");
    }

    // ---- a failed call leaves nothing busy ----

    @Test
    void allocViommuRefusedForAClosedParentLeavesTheIommufdClosable() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        parent.close();
        assertErrno("EBADF", () -> fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL));
        returnsPromptly("ioas.close() after the refused allocViommu", ioas::close);
        returnsPromptly("fd.close() after the refused allocViommu", fd::close);
    }

    @Test
    void dirtyBitmapRefusedForABadBitmapLeavesThePageTableClosable() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable hwpt = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.DIRTY_TRACKING);
        long iova = MockDriver.APERTURE_START;
        assertNullRefused(() -> hwpt.dirtyBitmap(iova, PAGE, PAGE, null, false));
        assertThrows(IllegalStateException.class, () -> hwpt.dirtyBitmap(iova, PAGE, PAGE, closedSegment(8), false));
        assertThrows(IllegalArgumentException.class, () -> hwpt.dirtyBitmap(iova, PAGE, PAGE, heap(8), false));
        returnsPromptly("hwpt.close() after the refused dirtyBitmap", hwpt::close);
        returnsPromptly("fd.close() after the refused dirtyBitmap", fd::close);
    }

    @Test
    void mapRefusedForABadSegmentLeavesTheIoasClosable() throws Exception {
        Ioas ioas = fd.allocIoas();
        assertNullRefused(() -> ioas.map(null, Access.READ));
        assertThrows(IllegalStateException.class, () -> ioas.map(closedSegment(PAGE), Access.READ));
        assertThrows(IllegalArgumentException.class, () -> ioas.map(heap(PAGE), 0x100000, Access.READ));
        assertErrno("EINVAL", () -> ioas.map(MemorySegment.NULL, Access.READ)); // reaches the kernel, which refuses it
        long iova = ioas.map(buffer(PAGE), Access.READ);
        assertEquals(PAGE, ioas.unmap(iova, PAGE));
        returnsPromptly("ioas.close() after the refused maps", ioas::close);
        returnsPromptly("fd.close() after the refused maps", fd::close);
    }

    @Test
    void accessRwRefusedForABadBufferLeavesTheAccessClosable() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        long iova = ioas.map(buffer(PAGE), Access.READ_WRITE);
        MockAccess access = mock.createAccess(ioas, false);
        assertNullRefused(() -> access.rw(iova, null, false));
        assertThrows(IllegalStateException.class, () -> access.rw(iova, closedSegment(64), false));
        assertThrows(IllegalArgumentException.class, () -> access.rw(iova, heap(64), true));
        access.rw(iova, arena.allocate(64), true);
        returnsPromptly("access.close() after the refused rw", access::close);
        returnsPromptly("ioas.close() after the refused rw", ioas::close);
        returnsPromptly("fd.close() after the refused rw", fd::close);
    }

    @Test
    void mapDmaRefusedForABadSegmentLeavesTheIommufdClosable() throws Exception {
        Ioas ioas = fd.allocIoas();
        fd.setVfioCompatIoas(ioas);
        VfioCompat vfio = fd.vfioCompat();
        assertNullRefused(() -> vfio.mapDma(null, 0x100000, Access.READ));
        assertThrows(IllegalStateException.class, () -> vfio.mapDma(closedSegment(PAGE), 0x100000, Access.READ));
        assertThrows(IllegalArgumentException.class, () -> vfio.mapDma(heap(PAGE), 0x100000, Access.READ));
        returnsPromptly("ioas.close() after the refused mapDma", ioas::close);
        returnsPromptly("fd.close() after the refused mapDma", fd::close);
    }

    @Test
    void rawIoctlRefusedForABadSegmentLeavesTheIommufdClosable() throws Exception {
        long request = Command.IOAS_ALLOC.request();
        assertNullRefused(() -> fd.ioctl(request, null));
        assertThrows(IllegalStateException.class, () -> fd.ioctl(request, closedSegment(16)));
        assertThrows(IllegalArgumentException.class, () -> fd.ioctl(request, heap(16)));
        returnsPromptly("fd.close() after the refused ioctls", fd::close);
    }

    @Test
    void nestedHwptAndInvalidateRefusedForBadDataLeaveTheParentClosable() throws Exception {
        requireMock();
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        FaultQueue q = fd.allocFaultQueue();
        assertThrows(IllegalStateException.class, () -> fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                closedSegment(4), q));
        assertThrows(IllegalArgumentException.class, () -> fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                heap(4), q));
        HwPagetable nested = fd.allocNestedHwpt(dev.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                MockDriver.selftestData(arena, 0), null);
        assertThrows(IllegalStateException.class, () -> nested.invalidate(MockDriver.INVALIDATE_DATA_SELFTEST, closedSegment(8), 8, 1));
        returnsPromptly("nested.close() after the refused invalidate", nested::close);
        returnsPromptly("q.close() after the refused allocNestedHwpt", q::close);
        returnsPromptly("parent.close() after the refused allocNestedHwpt", parent::close);
        returnsPromptly("fd.close() after the refused calls", fd::close);
    }

    // ---- close wakes a thread waiting forever ----

    /** What closes the queue under the waiter: the queue's handle or the whole iommufd. */
    enum Closer { QUEUE, IOMMUFD }

    @ParameterizedTest(name = "closed through the {0}")
    @EnumSource(Closer.class)
    void aThreadInFaultQueueAwaitForeverIsWokenByClose(Closer closer) throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        assertWokenByClose(() -> q.await(-1), closer == Closer.QUEUE ? q::close : fd::close);
        assertTrue(q.isClosed());
    }

    @ParameterizedTest(name = "closed through the {0}")
    @EnumSource(Closer.class)
    void aThreadInFaultQueueReadBlockingForeverIsWokenByClose(Closer closer) throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        PageFaults batch = new PageFaults(4);
        assertWokenByClose(() -> q.readBlocking(batch, -1), closer == Closer.QUEUE ? q::close : fd::close);
        assertTrue(q.isClosed());
    }

    @ParameterizedTest(name = "closed through the {0}")
    @EnumSource(Closer.class)
    void aThreadInEventQueueAwaitForeverIsWokenByClose(Closer closer) throws Exception {
        EventQueue q = eventQueue();
        assertWokenByClose(() -> q.await(-1), closer == Closer.QUEUE ? q::close : fd::close);
        assertTrue(q.isClosed());
    }

    @ParameterizedTest(name = "closed through the {0}")
    @EnumSource(Closer.class)
    void aThreadInEventQueueReadBlockingForeverIsWokenByClose(Closer closer) throws Exception {
        EventQueue q = eventQueue();
        var batch = q.newBatch(4);
        assertWokenByClose(() -> q.readBlocking(batch, -1), closer == Closer.QUEUE ? q::close : fd::close);
        assertTrue(q.isClosed());
    }

    /** A SELFTEST event queue on a mock vIOMMU (Linux 6.15+; the mock's vIOMMU types are 7.x). */
    private EventQueue eventQueue() throws Exception {
        requireMock();
        assumeTrue(fd.supports(Command.VEVENTQ_ALLOC), "kernel without vIOMMU event queues (before 6.15)");
        Ioas ioas = fd.allocIoas();
        MockDevice dev = mock.addDevice(ioas);
        HwPagetable parent = fd.allocHwpt(dev.deviceId(), ioas, HwptFlag.NEST_PARENT);
        Viommu v = fd.allocViommu(dev.deviceId(), parent, MockDriver.VIOMMU_TYPE_SELFTEST, MemorySegment.NULL);
        return v.allocEventQueue(MockDriver.VEVENTQ_TYPE_SELFTEST, 4);
    }

    /**
     * Starts a thread in {@code waitForever}, closes from this thread, and asserts that the close
     * returns and the waiter ends with the typed "closed" error (EBADF), both within the bound.
     * Whether the waiter is already blocked when close comes or only about to be, the outcome
     * must be the same; the test gives it the chance to block first.
     */
    static void assertWokenByClose(Callable<?> waitForever, Executable close) throws Exception {
        CompletableFuture<Object> outcome = new CompletableFuture<>();
        CountDownLatch started = new CountDownLatch(1);
        Thread waiter = Thread.ofPlatform().daemon().name("lifecycle-waiter").start(() -> {
            started.countDown();
            try {
                outcome.complete(waitForever.call());
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        started.await();
        awaitBlockedInPoll(waiter);
        returnsPromptly("close() while a thread waits forever", close);
        Object result = assertTimeoutPreemptively(HANG, () -> outcome.get(), "the waiter was not woken by close");
        IommufdException e = assertInstanceOf(IommufdException.class, result, "what the waiter got");
        assertEquals("EBADF", e.errnoName(), e.getMessage());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    /** Gives the thread up to 2 s to reach poll(2) (a frame of the libc bindings). */
    private static void awaitBlockedInPoll(Thread t) throws InterruptedException {
        for (int i = 0; i < 200 && t.isAlive(); i++) {
            for (StackTraceElement f : t.getStackTrace()) {
                if (f.getClassName().startsWith("io.github.iommufd4j.bindings.") && f.getMethodName().contains("poll")) return;
            }
            Thread.sleep(10);
        }
    }

    // ---- smaller items ----

    @Test
    void theClosedErrorNamesTheOperationThatWasRefused() throws Exception {
        FaultQueue q = fd.allocFaultQueue();
        Ioas ioas = fd.allocIoas();
        q.close();
        ioas.close();
        IommufdException read = assertErrno("EBADF", () -> q.read(new PageFaults(1)));
        assertTrue(read.operation() != null && read.operation().startsWith("read"), read.getMessage());
        IommufdException map = assertErrno("EBADF", () -> ioas.map(buffer(PAGE), Access.READ));
        assertEquals("IOMMU_IOAS_MAP", map.operation(), map.getMessage());
    }

    @Test
    void supportsOnAClosedIommufdIsRefusedEvenWhenItsFdNumberWasReused() throws Exception {
        assertTrue(fd.supports(Command.IOAS_ALLOC)); // asked (and cached) while open
        fd.close();
        // Natively the lowest free fd is the iommufd's old number: a stray ioctl would hit /dev/null.
        int reuse = Libc.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        try {
            for (Command c : new Command[] {Command.IOAS_MAP, Command.IOAS_ALLOC}) {
                // supports() declares no checked exception: the closed error comes as the cause.
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> fd.supports(c), c.name());
                IommufdException closed = assertInstanceOf(IommufdException.class, e.getCause(), e.toString());
                assertEquals("EBADF", closed.errnoName(), closed.getMessage());
            }
        } finally {
            Libc.close(reuse);
        }
    }

    @Test
    void fromFdRefusesAFileThatIsNoIommufdAndLeavesItOpenForTheCaller() throws Exception {
        MemorySegment pipe = arena.allocate(ValueLayout.JAVA_INT, 2);
        assertEquals(0, Libc.pipe2(pipe, Libc.O_CLOEXEC));
        int[] files = {Libc.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0),
                pipe.getAtIndex(ValueLayout.JAVA_INT, 0), pipe.getAtIndex(ValueLayout.JAVA_INT, 1)};
        try {
            for (int f : files) {
                assertTrue(f >= 0, "open: " + f);
                IommufdException e = assertThrows(IommufdException.class, () -> Iommufd.fromFd(f), "fd " + f + " is no iommufd");
                assertFalse(e instanceof UnsupportedCommandException, "a file that is no iommufd is no old kernel: " + e.getMessage());
                assertTrue(Libc.fcntl(f, Libc.F_GETFL, 0) >= 0, "fd " + f + " is still open for the caller");
            }
            assertThrows(IllegalArgumentException.class, () -> Iommufd.fromFd(-1));
        } finally {
            for (int f : files) Libc.close(f);
        }
    }

    @Test
    void fromFdTakesAnIommufd() throws Exception {
        assumeTrue(fd.backend() == Backend.NATIVE, "the software backend has no iommufd fd");
        int dup = Libc.dupCloexec(fd.fd());
        assertTrue(dup >= 0, "dup: " + dup);
        try (Iommufd adopted = Iommufd.fromFd(dup)) {
            adopted.allocIoas().close();
        }
        assertTrue(Libc.fcntl(dup, Libc.F_GETFL, 0) < 0, "the adopted fd was closed with its Iommufd");
    }

    @Test
    void aRefusedHwptCloseIsEBUSYTheHandleIsClosedAndTheObjectLivesUntilDestroyedOrTheIommufdCloses() throws Exception {
        requireMock();
        long fds = Leaks.openFds();
        Iommufd f = Iommufd.open();
        try {
            Ioas ioas = f.allocIoas();
            MockDevice dev = f.mock().addDevice(ioas);
            HwPagetable hwpt = f.allocHwpt(dev.deviceId(), ioas);
            MockDevice user = f.mock().addDevice(hwpt.id(), 0); // attached by id: not a dependent of the handle
            assertErrno("EBUSY", hwpt::close);
            assertTrue(hwpt.isClosed());
            assertErrno("EBADF", () -> hwpt.setDirtyTracking(false));
            hwpt.close(); // closed already: quiet
            assertErrno("EBUSY", () -> f.destroy(hwpt.id())); // the kernel object lives on
            user.close();
            f.destroy(hwpt.id()); // until destroyed by id once nothing uses it
            assertErrno("ENOENT", () -> f.destroy(hwpt.id()));
            // Or until the iommufd closes.
            HwPagetable again = f.allocHwpt(dev.deviceId(), ioas);
            f.mock().addDevice(again.id(), 0);
            assertErrno("EBUSY", again::close);
        } finally {
            returnsPromptly("closing an iommufd after a refused close", f::close);
        }
        assertEquals(fds, Leaks.openFds(), "file descriptors after the iommufd closed");
    }
}
