package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.*;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static io.github.iommufd4j.internal.software.DispatcherTest.is;
import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * §5: the fault queue fd (read/write/poll rules, cookies, routing, auto-responses) and device DMA with faults.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
class FaultTest {
    static final int REC = 40;
    final Raw raw = new Raw();
    int ioas, stdev, dev, parent, nested, faultId, fd;
    MemorySegment buf;

    @BeforeEach
    void setUp() {
        ioas = raw.ioas();
        is("OK", raw.mockDomain(ioas));
        stdev = raw.stdev;
        dev = raw.idev;
        is("OK", raw.hwptAlloc(IOMMU_HWPT_ALLOC_NEST_PARENT(), dev, ioas, 0, null, 0));
        parent = raw.hwpt;
        is("OK", raw.faultAlloc());
        faultId = raw.id;
        fd = raw.fd;
        is("OK", raw.hwptAlloc(IOMMU_HWPT_FAULT_ID_VALID(), dev, parent, IOMMU_HWPT_DATA_SELFTEST(),
                raw.selftestData(0), faultId));
        nested = raw.hwpt;
        is("OK", raw.replace(stdev, nested));
        buf = raw.arena.allocate(4 * REC, 8);
    }

    @AfterEach
    void close() {
        raw.close();
    }

    boolean pollIn() {
        MemorySegment p = raw.arena.allocate(Libc.POLLFD);
        p.set(ValueLayout.JAVA_INT, 0, fd);
        p.set(ValueLayout.JAVA_SHORT, 4, (short) (Libc.POLLIN | Libc.POLLOUT));
        Libc.poll(p, 1, 0);
        short revents = p.get(ValueLayout.JAVA_SHORT, 6);
        assertTrue((revents & Libc.POLLOUT) != 0, "always writable");
        return (revents & Libc.POLLIN) != 0;
    }

    long respond(int cookie, int code) {
        MemorySegment r = raw.arena.allocate(8, 8);
        r.set(ValueLayout.JAVA_INT, 0, cookie);
        r.set(ValueLayout.JAVA_INT, 4, code);
        return raw.b.write(fd, r, 8);
    }

    @Test
    void readAndWriteRules() { // §5.3, §5.4
        is("EOPNOTSUPP", raw.ioctl(IOMMU_FAULT_QUEUE_ALLOC(), with(raw.struct(16), 4, 1)));
        is("OK", raw.b.read(fd, buf, 0)); // empty: 0, even for count 0
        is("OK", raw.b.read(fd, buf, 40));
        assertFalse(pollIn());
        is("OK", raw.triggerIopf(dev, 0, 7, IOMMU_PGFAULT_PERM_READ(), 0x1234000));
        assertTrue(pollIn());
        is("ESPIPE", raw.b.read(fd, buf, 16));
        is("EINVAL", raw.b.read(fd, buf, 0));
        is("+40", raw.b.read(fd, buf, 80));
        assertEquals(IOMMU_PGFAULT_FLAGS_LAST_PAGE(), iommu_hwpt_pgfault.flags(buf));
        assertEquals(dev, iommu_hwpt_pgfault.dev_id(buf));
        assertEquals(7, iommu_hwpt_pgfault.grpid(buf));
        assertEquals(0x1234000, iommu_hwpt_pgfault.addr(buf));
        assertEquals(0, iommu_hwpt_pgfault.length(buf));
        int cookie = iommu_hwpt_pgfault.cookie(buf);
        assertEquals(1, cookie);
        assertFalse(pollIn(), "read but unanswered groups do not count");
        is("OK", raw.b.read(fd, buf, 40));
        is("ESPIPE", raw.b.write(fd, buf, 4));
        is("OK", raw.b.write(fd, buf, 0));
        is("EINVAL", respond(cookie, 2));
        is("EINVAL", respond(cookie + 1, 0));
        is("+8", respond(cookie, 0));
        is("EINVAL", respond(cookie, 0)); // already answered
        // two responses, the second bad: bytes consumed
        raw.triggerIopf(dev, 0, 1, 0, 0);
        raw.triggerIopf(dev, 0, 2, 0, 0);
        is("+80", raw.b.read(fd, buf, 80));
        assertEquals(1, iommu_hwpt_pgfault.cookie(buf), "the lowest free cookie is reused");
        MemorySegment r = raw.arena.allocate(16, 8);
        r.set(ValueLayout.JAVA_INT, 0, 1);
        r.set(ValueLayout.JAVA_INT, 8, 99);
        is("+8", raw.b.write(fd, r, 16));
        is("EBADF", raw.b.read(99, buf, 40));
    }

    static MemorySegment with(MemorySegment s, long offset, int value) {
        s.set(ValueLayout.JAVA_INT, offset, value);
        return s;
    }

    @Test
    void aBufferThatIsGoneIsEFAULTAndNoGroupIsLost() {
        long va = Libc.mmap(0, PAGE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        assertEquals(0, Libc.munmap(va, PAGE));
        MemorySegment gone = MemorySegment.ofAddress(va).reinterpret(2 * REC);
        is("OK", raw.triggerIopf(dev, 0, 7, IOMMU_PGFAULT_PERM_READ(), 0x1234000));
        is("EFAULT", raw.b.read(fd, gone, REC));
        is("EFAULT", raw.b.read(fd, buf.asReadOnly(), REC));
        is("EFAULT", raw.b.read(fd, MemorySegment.ofArray(new byte[REC]), REC));
        MemorySegment closed;
        try (Arena a = Arena.ofConfined()) {
            closed = a.allocate(REC);
        }
        is("EFAULT", raw.b.read(fd, closed, REC));
        is("+40", raw.b.read(fd, buf, REC)); // the group stayed queued
        int cookie = iommu_hwpt_pgfault.cookie(buf);
        is("EFAULT", raw.b.write(fd, gone, 8));
        is("+8", respond(cookie, 0));
    }

    @Test
    void wholeGroupsOnly() {
        raw.triggerIopf(dev, 0, 1, 0, 0);
        raw.triggerIopf(dev, 0, 2, 0, 0);
        raw.triggerIopf(dev, 0, 3, 0, 0);
        is("+80", raw.b.read(fd, buf, 80));
        is("+40", raw.b.read(fd, buf, 160));
        assertEquals(3, iommu_hwpt_pgfault.grpid(buf));
    }

    @Test
    void rawFdCarriesRealRecordsAndResponses() { // a pump reading the fd directly
        raw.triggerIopf(dev, 0, 5, 0, 0x5000);
        assertEquals(REC, Libc.read(fd, buf, 4 * REC));
        int cookie = iommu_hwpt_pgfault.cookie(buf);
        MemorySegment r = raw.arena.allocate(8, 8);
        r.set(ValueLayout.JAVA_INT, 0, cookie);
        assertEquals(8, Libc.write(fd, r, 8));
        is("EINVAL", respond(cookie, 0), "the raw response was honoured first");
    }

    @Test
    void routing() { // §5.2, §8 item 13
        is("ENOENT", raw.triggerIopf(0, 0, 0, 0, 0));
        is("OK", raw.triggerIopf(dev, 3, 1, 0, 0)); // PASID fault -> the nested HWPT at the RID
        is("+40", raw.b.read(fd, buf, 40));
        assertEquals(IOMMU_PGFAULT_FLAGS_LAST_PAGE() | IOMMU_PGFAULT_FLAGS_PASID_VALID(), iommu_hwpt_pgfault.flags(buf));
        assertEquals(3, iommu_hwpt_pgfault.pasid(buf));
        is("OK", raw.replace(stdev, ioas)); // no fault handler: dropped
        is("OK", raw.triggerIopf(dev, 0, 1, 0, 0));
        is("OK", raw.b.read(fd, buf, 40));
        is("OK", raw.hwptAlloc(IOMMU_HWPT_FAULT_ID_VALID(), dev, ioas, 0, null, faultId)); // 7.3 paging fault HWPT
        is("OK", raw.replace(stdev, raw.hwpt));
        is("OK", raw.triggerIopf(dev, 3, 1, 0, 0)); // PASID fault, paging at the RID: dropped
        is("OK", raw.b.read(fd, buf, 40));
        is("OK", raw.triggerIopf(dev, 0, 1, 0, 0));
        is("+40", raw.b.read(fd, buf, 40));
    }

    @Test
    void replaceAwayAnswersOutstandingFaults() { // §4.4, §5.5
        raw.triggerIopf(dev, 0, 1, 0, 0);
        is("+40", raw.b.read(fd, buf, 40));
        int delivered = iommu_hwpt_pgfault.cookie(buf);
        raw.triggerIopf(dev, 0, 2, 0, 0);
        assertTrue(pollIn());
        is("OK", raw.replace(stdev, parent));
        assertFalse(pollIn(), "the undelivered group left the fd");
        is("OK", raw.b.read(fd, buf, 40));
        is("EINVAL", respond(delivered, 0));
    }

    @Test
    void lifetime() { // §5.1, §5.5, §2.4
        is("EBUSY", raw.destroy(faultId)); // the fd and the HWPT hold it
        raw.triggerIopf(dev, 0, 1, 0, 0);
        is("OK", raw.b.closeFd(fd));
        is("EBADF", raw.b.read(fd, buf, 40));
        is("EBUSY", raw.destroy(faultId));
        is("OK", raw.triggerIopf(dev, 0, 2, 0, 0)); // still queued, never readable
        is("EBUSY", raw.destroy(nested)); // attached
        is("OK", raw.replace(stdev, parent));
        is("OK", raw.destroy(nested));
        is("OK", raw.destroy(faultId));
    }

    @Test
    void dmaWithFaultAndResponse() throws Exception { // item 7
        MemorySegment page = raw.buffer(PAGE);
        MemorySegment data = raw.arena.allocate(64);
        data.fill((byte) 0x42);
        long target = APERTURE + 16 * PAGE;
        CompletableFuture<Integer> dma = CompletableFuture.supplyAsync(
                () -> raw.b.deviceDma(dev, 0, target + 8, data, true, TimeUnit.SECONDS.toNanos(10)));
        assertTrue(awaitPollIn(5000), "the DMA queued a page request");
        is("+40", raw.b.read(fd, buf, 40));
        assertEquals(IOMMU_PGFAULT_PERM_WRITE(), iommu_hwpt_pgfault.perm(buf));
        assertEquals(target, iommu_hwpt_pgfault.addr(buf));
        assertEquals(IOMMU_PGFAULT_FLAGS_LAST_PAGE(), iommu_hwpt_pgfault.flags(buf));
        is("OK", raw.mapFixed(ioas, page, target)); // the VMM maps it, then answers
        is("+8", respond(iommu_hwpt_pgfault.cookie(buf), IOMMUFD_PAGE_RESP_SUCCESS()));
        assertEquals(0, dma.get(5, TimeUnit.SECONDS));
        assertEquals(0x42, page.get(ValueLayout.JAVA_BYTE, 8));
        // INVALID fails the DMA; a read through a mapped page needs no fault
        CompletableFuture<Integer> bad = CompletableFuture.supplyAsync(
                () -> raw.b.deviceDma(dev, 0, target + PAGE, data, false, TimeUnit.SECONDS.toNanos(10)));
        assertTrue(awaitPollIn(5000));
        raw.b.read(fd, buf, 40);
        assertEquals(IOMMU_PGFAULT_PERM_READ(), iommu_hwpt_pgfault.perm(buf));
        is("+8", respond(iommu_hwpt_pgfault.cookie(buf), IOMMUFD_PAGE_RESP_INVALID()));
        is("EFAULT", bad.get(5, TimeUnit.SECONDS));
        is("OK", raw.b.deviceDma(dev, 0, target, data, false, 0));
        // a timeout fails too
        is("EFAULT", raw.b.deviceDma(dev, 0, target + 4 * PAGE, data, true, TimeUnit.MILLISECONDS.toNanos(20)));
        is("ENOENT", raw.b.deviceDma(999, 0, target, data, true, 0));
    }

    @Test
    void dmaAnsweredByARawResponse() throws Exception {
        MemorySegment data = raw.arena.allocate(16);
        CompletableFuture<Integer> dma = CompletableFuture.supplyAsync(
                () -> raw.b.deviceDma(dev, 0, APERTURE, data, true, TimeUnit.SECONDS.toNanos(10)));
        assertTrue(awaitPollIn(5000));
        assertEquals(REC, Libc.read(fd, buf, REC));
        MemorySegment r = raw.arena.allocate(8, 8);
        r.set(ValueLayout.JAVA_INT, 0, iommu_hwpt_pgfault.cookie(buf));
        r.set(ValueLayout.JAVA_INT, 4, IOMMUFD_PAGE_RESP_SUCCESS());
        assertEquals(8, Libc.write(fd, r, 8));
        is("EFAULT", dma.get(5, TimeUnit.SECONDS)); // answered, retried once, still unmapped
    }

    @Test
    void dmaPermissionsAndDirtyBits() {
        try (Raw r = new Raw()) {
            int io = r.ioas();
            r.mockDomain(io);
            int d = r.idev, st = r.stdev;
            r.hwptAlloc(IOMMU_HWPT_ALLOC_DIRTY_TRACKING(), d, io, 0, null, 0);
            int h = r.hwpt;
            is("OK", r.replace(st, h));
            MemorySegment m = r.buffer(4 * PAGE);
            is("OK", r.map(io, R | FIXED, m.address(), 2 * PAGE, APERTURE));
            is("OK", r.map(io, RW | FIXED, m.address() + 2 * PAGE, 2 * PAGE, APERTURE + 2 * PAGE));
            MemorySegment data = r.arena.allocate(16);
            is("EPERM", r.b.deviceDma(d, 0, APERTURE, data, true, 0));
            is("EFAULT", r.b.deviceDma(d, 0, APERTURE + 8 * PAGE, data, true, 0)); // no fault queue
            is("EFAULT", r.b.deviceDma(d, 5, APERTURE, data, false, 0)); // PASID on a paging domain
            MemorySegment s = r.struct(iommu_hwpt_set_dirty_tracking.sizeof());
            iommu_hwpt_set_dirty_tracking.flags(s, 1);
            iommu_hwpt_set_dirty_tracking.hwpt_id(s, h);
            is("OK", r.ioctl(IOMMU_HWPT_SET_DIRTY_TRACKING(), s));
            is("OK", r.b.deviceDma(d, 0, APERTURE + 3 * PAGE, data, true, 0));
            MemorySegment bitmap = r.buffer(8);
            MemorySegment g = r.struct(iommu_hwpt_get_dirty_bitmap.sizeof());
            iommu_hwpt_get_dirty_bitmap.hwpt_id(g, h);
            iommu_hwpt_get_dirty_bitmap.iova(g, APERTURE);
            iommu_hwpt_get_dirty_bitmap.length(g, 4 * PAGE);
            iommu_hwpt_get_dirty_bitmap.page_size(g, PAGE);
            iommu_hwpt_get_dirty_bitmap.data(g, bitmap.address());
            is("OK", r.ioctl(IOMMU_HWPT_GET_DIRTY_BITMAP(), g));
            assertEquals(0b1000, bitmap.get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    boolean awaitPollIn(int millis) {
        MemorySegment p = raw.arena.allocate(Libc.POLLFD);
        p.set(ValueLayout.JAVA_INT, 0, fd);
        p.set(ValueLayout.JAVA_SHORT, 4, Libc.POLLIN);
        return Libc.poll(p, 1, millis) == 1;
    }
}
