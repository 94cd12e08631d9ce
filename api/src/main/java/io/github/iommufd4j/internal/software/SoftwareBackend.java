package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_destroy;
import io.github.iommufd4j.bindings.uapi.iommu_fault_alloc;
import io.github.iommufd4j.internal.IommufdBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * An in-process iommufd: interprets the kernel's ioctl numbers and UAPI structs and returns what
 * Linux (with {@code CONFIG_IOMMUFD_TEST}) returns, per docs/kernel-behaviour.md (§ numbers in
 * this file refer to it). Fault queues are real file descriptors (Unix socket pairs).
 *
 * <p>User memory ({@code user_va} and {@code uptr} fields, and the argument struct itself) is
 * reached only through segments given to {@link #registerMemory}; other addresses behave like
 * unmapped user memory. Every copy goes through {@link UserCopy}, so memory that is gone or
 * read-only gives EFAULT, never a JVM crash. The backend tests memory where the kernel pins it but
 * holds no pages: where that differs from the kernel's pinned pages (memory unmapped or replaced
 * after the map) is listed in {@code docs/software-backend.md}.
 *
 * <p>Thread safety as the kernel's: every call is linearizable. One {@link FifoLock} guards all
 * state; {@link #translate} reads optimistically, and {@link #deviceDma} waits for a fault answer
 * without holding it.
 */
public final class SoftwareBackend implements IommufdBackend {
    /** The kernel whose behaviour is reproduced. */
    public enum Kernel { V6_12, V7_3 }

    private static final int CMD_BASE = 0x80, CMD_LAST = 0xa0;
    /** Page requests per DMA fault group (a long unmapped run is reported by its first pages). */
    private static final int MAX_GROUP = 256;

    private interface Handler {
        int run(Call c);
    }

    /**
     * A dispatch-table slot (§1.3) with its slice of the kernel-copy buffer; a null handler is not
     * implemented yet and answers ENOTTY.
     */
    private record Command(int request, int minSize, int size, Handler handler, MemorySegment copy) {}

    private final FifoLock lock = new FifoLock();
    private final SwIommufd state;
    private final ViommuCommands viommu;
    private final VfioCompatCommands vfio;
    private final Command[] commands = new Command[CMD_LAST - CMD_BASE + 1];
    private final MemorySegment kernelCopy = Arena.ofAuto().allocate(128, 8);
    private final Call call = new Call();
    private boolean closed;

    /**
     * A software iommufd behaving as Linux 7.3, or as the release named by the system property
     * {@value #KERNEL_PROPERTY} ({@code 6.12} or {@code 7.3}), e.g. to compare it with a 6.12 kernel.
     */
    public SoftwareBackend() {
        this(kernelFromProperty());
    }

    public static final String KERNEL_PROPERTY = "iommufd4j.software.kernel";

    /**
     * The {@code /proc/self/fd} link target of a mock dma-buf's fd made by this backend (a memfd),
     * as {@code /dmabuf:} starts a kernel dma-buf's.
     */
    public static final String MOCK_DMABUF_LINK_PREFIX = "/memfd:" + SwDmabuf.NAME_PREFIX;

    static Kernel kernelFromProperty() {
        return switch (System.getProperty(KERNEL_PROPERTY, "7.3")) {
            case "6.12" -> Kernel.V6_12;
            case "7.3" -> Kernel.V7_3;
            default -> throw new IllegalArgumentException("-D" + KERNEL_PROPERTY + "=" + System.getProperty(KERNEL_PROPERTY) + ": 6.12 or 7.3");
        };
    }

    public SoftwareBackend(Kernel kernel) {
        state = new SwIommufd(kernel);
        IoasCommands ioas = new IoasCommands(state);
        ViommuCommands viommu = new ViommuCommands(state);
        this.viommu = viommu;
        HwptCommands hwpt = new HwptCommands(state, viommu);
        MockCommands mock = new MockCommands(state);
        vfio = new VfioCompatCommands(state, ioas);
        add(Uapi.IOMMU_DESTROY(), 8, 8, c -> state.destroy(iommu_destroy.id(c.k)));
        add(Uapi.IOMMU_IOAS_ALLOC(), 12, 12, ioas::alloc);
        add(Uapi.IOMMU_IOAS_ALLOW_IOVAS(), 24, 24, ioas::allowIovas);
        add(Uapi.IOMMU_IOAS_COPY(), 40, 40, ioas::copy);
        add(Uapi.IOMMU_IOAS_IOVA_RANGES(), 32, 32, ioas::iovaRanges);
        add(Uapi.IOMMU_IOAS_MAP(), 40, 40, ioas::map);
        add(Uapi.IOMMU_IOAS_UNMAP(), 24, 24, ioas::unmap);
        add(Uapi.IOMMU_OPTION(), 24, 24, ioas::option);
        add(Uapi.IOMMU_VFIO_IOAS(), 12, 12, ioas::vfioIoas);
        add(Uapi.IOMMU_HWPT_ALLOC(), 24, 48, hwpt::alloc);
        add(Uapi.IOMMU_GET_HW_INFO(), 32, 40, hwpt::hwInfo);
        add(Uapi.IOMMU_HWPT_SET_DIRTY_TRACKING(), 16, 16, hwpt::setDirtyTracking);
        add(Uapi.IOMMU_HWPT_GET_DIRTY_BITMAP(), 48, 48, hwpt::dirtyBitmap);
        add(Uapi.IOMMU_HWPT_INVALIDATE(), 32, 32, hwpt::invalidate);
        add(Uapi.IOMMU_FAULT_QUEUE_ALLOC(), 16, 16, this::faultQueueAlloc);
        add(Uapi.IOMMU_TEST_CMD(), 68, 72, mock::run);
        if (kernel == Kernel.V7_3) {
            // 7.3-only commands (§1.1); 6.12 leaves these slots empty (ENOTTY).
            add(Uapi.IOMMU_IOAS_MAP_FILE(), 40, 40, ioas::mapFile);
            add(Uapi.IOMMU_VIOMMU_ALLOC(), 24, 40, viommu::viommuAlloc);
            add(Uapi.IOMMU_VDEVICE_ALLOC(), 24, 24, viommu::vdeviceAlloc);
            add(Uapi.IOMMU_IOAS_CHANGE_PROCESS(), 8, 8, ioas::changeProcess);
            add(Uapi.IOMMU_VEVENTQ_ALLOC(), 28, 32, viommu::veventqAlloc);
            add(Uapi.IOMMU_HW_QUEUE_ALLOC(), 40, 40, viommu::hwQueueAlloc);
            add(Uapi.IOMMU_IOAS_NOIOMMU_GET_PA(), 40, 40, viommu::noiommuGetPa);
        }
    }

    /**
     * Exclusive access: the FIFO lock (allocation-free and fair, see {@link FifoLock}), whose
     * sequence number {@link #translate}'s optimistic reads validate against.
     */
    private long writeLock() {
        return lock.lock();
    }

    private void unlockWrite(long stamp) {
        lock.unlock();
    }

    private void add(int request, int minSize, int size, Handler handler) {
        commands[(request & 0xff) - CMD_BASE] = new Command(request, minSize, size, handler, kernelCopy.asSlice(0, size));
    }

    @Override
    public String name() {
        return "software";
    }

    @Override
    public int fd() {
        return -1;
    }

    // ---- ioctl ----

    @Override
    public int ioctl(long request, MemorySegment arg) {
        return ioctl(request, arg, null, 0, 0);
    }

    /** The registrations and the ioctl under one lock: a typed map takes it once, not twice. */
    @Override
    public int ioctl(long request, MemorySegment arg, MemorySegment[] memory, int from, int to) {
        long stamp = writeLock();
        try {
            for (int i = from; i < to; i++) state.memory.register(memory[i]);
            if (closed) return -Err.EBADF;
            return dispatch((int) request, arg);
        } catch (Fail f) {
            return -f.errno;
        } finally {
            unlockWrite(stamp);
        }
    }

    /** §1.2, in order. */
    private int dispatch(int cmd, MemorySegment arg) {
        int nr = cmd & 0xff;
        // 1: outside the table the VFIO compatibility layer answers (§3.8); unknown numbers get ENOTTY.
        if (nr < CMD_BASE || nr > CMD_LAST) return vfio.run(cmd, arg);
        long avail = arg.byteSize();
        // 2: every read of the caller's struct goes through UserCopy: a raw pointer that is not mapped is EFAULT
        long size = avail < 4 ? -1 : UserCopy.readInt(arg, 0, kernelCopy);
        if (size < 0) return -Err.EFAULT;
        Command c = commands[nr - CMD_BASE];
        if (c == null || c.handler == null || c.request != cmd) return -Err.ENOTTY; // 3
        if (size < c.minSize) return -Err.EINVAL; // 4
        MemorySegment k = c.copy;
        if (size > c.size) { // 5: a longer struct must have a zero tail; an unreadable tail is EFAULT
            for (long i = c.size; i < Math.min(size, avail); i += kernelCopy.byteSize()) {
                long n = Math.min(kernelCopy.byteSize(), Math.min(size, avail) - i);
                if (!UserCopy.copy(arg, i, kernelCopy, 0, n)) return -Err.EFAULT;
                for (long j = 0; j < n; j++) {
                    if (kernelCopy.get(ValueLayout.JAVA_BYTE, j) != 0) return -Err.E2BIG;
                }
            }
            if (size > avail) return -Err.EFAULT;
        }
        long n = Math.min(size, c.size);
        if (n < c.size) k.fill((byte) 0); // 6: a short struct is zero-filled (a full one is overwritten next)
        if (n > avail || !UserCopy.copy(arg, 0, k, 0, n)) return -Err.EFAULT; // 7
        return c.handler.run(call.set(k, arg, size));
    }

    /** §5.1: the fd is the user's end of a socket pair, O_NONBLOCK. */
    private int faultQueueAlloc(Call c) {
        if (iommu_fault_alloc.flags(c.k) != 0) return -Err.EOPNOTSUPP;
        int id = state.objects.reserve();
        int user, backend;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            int rc = Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds);
            if (rc < 0) {
                state.objects.release(id);
                return rc;
            }
            user = fds.getAtIndex(ValueLayout.JAVA_INT, 0);
            backend = fds.getAtIndex(ValueLayout.JAVA_INT, 1);
        }
        for (int f : new int[] {user, backend}) Libc.fcntl(f, Libc.F_SETFL, Libc.fcntl(f, Libc.F_GETFL, 0) | Libc.O_NONBLOCK);
        SwFault fault = new SwFault(id, user, backend);
        iommu_fault_alloc.out_fault_id(c.k, id);
        iommu_fault_alloc.out_fault_fd(c.k, user);
        int rc = c.respond();
        if (rc != 0) {
            fault.destroy();
            state.objects.release(id);
            return rc;
        }
        state.objects.publish(fault);
        state.putFd(user, fault);
        return 0;
    }

    // ---- the fds handed out ----

    @Override
    public long read(int fd, MemorySegment buf, long count) {
        long stamp = writeLock();
        try {
            SwFault f = state.fault(fd);
            if (f != null) return f.read(buf, count);
            SwVeventq q = state.veventq(fd);
            if (q != null) return q.read(buf, count);
            return state.access(fd) != null ? -Err.EINVAL : -Err.EBADF;
        } finally {
            unlockWrite(stamp);
        }
    }

    @Override
    public long write(int fd, MemorySegment buf, long count) {
        long stamp = writeLock();
        try {
            SwFault f = state.fault(fd);
            if (f != null) return f.write(buf, count);
            // The vEVENTQ fd has no write op: the VFS answers EINVAL (§5.7), as for an access fd.
            return state.access(fd) != null || state.veventq(fd) != null ? -Err.EINVAL : -Err.EBADF;
        } finally {
            unlockWrite(stamp);
        }
    }

    /** Closing a fault fd drops the fd's reference (§5.5); closing an access fd destroys the access. */
    @Override
    public int closeFd(int fd) {
        long stamp = writeLock();
        try {
            SwFault f = state.fault(fd);
            if (f != null) {
                state.removeFd(fd);
                f.closeUserFd();
                f.users--;
                return 0;
            }
            SwVeventq q = state.veventq(fd);
            if (q != null) {
                state.removeFd(fd);
                q.closeFd();
                q.users--;
                return 0;
            }
            SwAccess a = state.access(fd);
            if (a == null) return -Err.EBADF;
            state.destroyAccess(a);
            return 0;
        } finally {
            unlockWrite(stamp);
        }
    }

    @Override
    public long mmap(long offset, long length) {
        long stamp = writeLock();
        try {
            return closed ? -Err.EBADF : viommu.mmap(offset, length);
        } finally {
            unlockWrite(stamp);
        }
    }

    @Override
    public int munmap(long address, long length) {
        long stamp = writeLock();
        try {
            return closed ? 0 : viommu.munmap(address, length);
        } finally {
            unlockWrite(stamp);
        }
    }

    @Override
    public void registerMemory(MemorySegment segment) {
        long stamp = writeLock();
        try {
            state.memory.register(segment);
        } finally {
            unlockWrite(stamp);
        }
    }

    @Override
    public void unregisterMemory(MemorySegment segment) {
        long stamp = writeLock();
        try {
            state.memory.unregister(segment);
        } finally {
            unlockWrite(stamp);
        }
    }

    /** Answers outstanding faults INVALID, closes every fd handed out, frees everything. Idempotent. */
    @Override
    public void close() {
        long stamp = writeLock();
        try {
            if (closed) return;
            closed = true;
            state.close();
        } finally {
            unlockWrite(stamp);
        }
    }

    // ---- beyond the kernel ABI: the software IOMMU for emulated devices ----

    /**
     * The user address {@code iova} maps to in an IOAS, if the mapping allows the access
     * ({@code write}: WRITEABLE, else READABLE); -1 otherwise. Lock-free in the common case.
     */
    public long translate(int ioasId, long iova, boolean write) {
        long stamp = lock.tryOptimisticRead();
        if (stamp != 0) {
            try {
                long va = translateUnlocked(ioasId, iova, write, stamp);
                if (lock.validate(stamp)) return va;
            } catch (RuntimeException raced) {
                // a writer changed the tables under us: retry under the lock
            }
        }
        stamp = lock.lock();
        try {
            return translateUnlocked(ioasId, iova, write, stamp);
        } finally {
            lock.unlock();
        }
    }

    private long translateUnlocked(int ioasId, long iova, boolean write, long stamp) {
        return state.objects.get(ioasId) instanceof SwIoas ioas ? ioas.translate(iova, write, lock, stamp) : -1;
    }

    /**
     * DMA by a mock device through the software IOMMU: {@code buffer.byteSize()} bytes at
     * {@code iova} (at {@code pasid}, 0 for none), copied from memory into {@code buffer}, or
     * from {@code buffer} into memory when {@code write}. Translation goes through the HWPT the
     * device is attached to at that PASID, or else for a PASID through a nested HWPT at its RID (a
     * nested one through its parent's IOAS); a write marks the dirty bits of a tracking domain.
     *
     * <p>If part of the range is unmapped and the HWPT has a fault queue, a page request group is
     * queued (one LAST_PAGE-terminated group, perm READ or WRITE) and the call blocks, without the
     * lock, until it is answered: SUCCESS retries the translation once; INVALID or the timeout
     * fail.
     *
     * @return 0; -ENOENT for an unknown device; -EPERM when the mapping forbids the access;
     *     -EFAULT when the range stays unmapped, the device has no translation, or user memory is gone
     */
    public int deviceDma(int idevId, int pasid, long iova, MemorySegment buffer, boolean write, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        boolean retried = false;
        for (;;) {
            SwFault fault;
            SwFault.Group group;
            long stamp = writeLock();
            try {
                if (closed) return -Err.EBADF;
                if (!(state.objects.get(idevId) instanceof SwDevice dev)) return -Err.ENOENT;
                // Translated by the HWPT at that PASID, else (user PASID table) a nested one at the RID.
                int attachment = SwIommufd.faultAttachment(dev, pasid);
                if (attachment < 0) return -Err.EFAULT;
                SwHwpt h = dev.attached(attachment);
                List<Long> unmapped = new ArrayList<>();
                int rc = dmaOnce(h, iova, buffer, write, unmapped);
                if (unmapped.isEmpty()) return rc;
                SwHwpt target = SwIommufd.faultTarget(dev, attachment);
                if (retried || target == null) return -Err.EFAULT;
                group = faultGroup(dev, target, attachment, pasid, write, unmapped);
                group.waker = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
                fault = target.fault;
                fault.report(group);
            } finally {
                unlockWrite(stamp);
            }
            int code = await(fault, group, deadline);
            if (code != SwFault.SUCCESS) return -Err.EFAULT;
            retried = true;
        }
    }

    /** One translation of the whole range; copies only if every byte is mapped. Unmapped pages go to {@code unmapped}. */
    private int dmaOnce(SwHwpt h, long iova, MemorySegment buffer, boolean write, List<Long> unmapped) {
        long length = buffer.byteSize();
        if (length == 0) return 0;
        if (U64.addOverflows(iova, length - 1)) return -Err.EFAULT;
        long last = iova + length - 1;
        RangeTable areas = h.ioas.areas;
        boolean denied = false;
        for (long cur = iova;;) {
            long p = h.ioas.findMapped(cur); // a revoked dma-buf's area translates nowhere
            long end;
            if (p < 0) {
                long revoked = areas.find(cur);
                if (revoked >= 0) {
                    end = U64.min(last, areas.last(revoked));
                } else {
                    long next = areas.firstIntersecting(cur, last);
                    end = next < 0 ? last : areas.start(next) - 1;
                }
                for (long page = cur & -U64.PAGE_SIZE; U64.le(page, end) && unmapped.size() < MAX_GROUP; page += U64.PAGE_SIZE) {
                    unmapped.add(page);
                }
            } else {
                end = U64.min(last, areas.last(p));
                denied |= (areas.flags(p) & (write ? SwIoas.WRITE : SwIoas.READ)) == 0;
            }
            if (end == last || unmapped.size() >= MAX_GROUP) break;
            cur = end + 1;
        }
        if (!unmapped.isEmpty()) return 0;
        if (denied) return -Err.EPERM;
        for (long cur = iova, off = 0;;) {
            long p = areas.find(cur);
            long end = U64.min(last, areas.last(p)), n = end - cur + 1, va = areas.data(p) + (cur - areas.start(p));
            boolean ok = write ? state.memory.write(va, buffer, off, n) : state.memory.read(va, buffer, off, n);
            if (!ok) return -Err.EFAULT;
            if (end == last) break;
            cur = end + 1;
            off += n;
        }
        SwHwpt domain = h.pagingDomain();
        if (write && domain.dirtyOps && domain.dirtyTracking) markWritten(domain, iova, last);
        return 0;
    }

    /** Sets the dirty bits a device write leaves: the 2 KiB IOPTEs (6.12), the PAGE_SIZE leaves (7.3 generic PT). */
    private void markWritten(SwHwpt domain, long first, long last) {
        long unit = state.v73() ? U64.PAGE_SIZE : DirtyBits.GRANULE;
        long end = last | (unit - 1);
        for (long g = first & -unit;; g += DirtyBits.GRANULE) {
            if (domain.ioas.findMapped(g) >= 0) domain.dirty.set(g);
            if (!U64.lt(g + DirtyBits.GRANULE - 1, end)) break;
        }
    }

    private static SwFault.Group faultGroup(SwDevice dev, SwHwpt target, int attachment, int pasid, boolean write, List<Long> pages) {
        int grpid = dev.nextGroup++ & 0x1ff;
        int base = pasid != 0 ? SwFault.FLAG_PASID_VALID : 0;
        List<SwFault.Fault> faults = new ArrayList<>();
        for (int i = 0; i < pages.size(); i++) {
            int flags = base | (i == pages.size() - 1 ? SwFault.FLAG_LAST_PAGE : 0);
            faults.add(new SwFault.Fault(flags, dev.id, pasid, grpid, write ? Abi.PERM_WRITE : Abi.PERM_READ, pages.get(i)));
        }
        return new SwFault.Group(dev, target, attachment, faults);
    }

    /**
     * Waits until the group is answered or the deadline passes, polling the waker eventfd (answers
     * through the seam, detach, destroy) and the queue's backend end (answers written raw).
     * Returns the answer, or -1 on timeout.
     */
    private int await(SwFault fault, SwFault.Group group, long deadline) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pfds = arena.allocate(Libc.POLLFD, 2);
            pfds.set(ValueLayout.JAVA_INT, 0, group.waker);
            pfds.set(ValueLayout.JAVA_SHORT, 4, Libc.POLLIN);
            pfds.set(ValueLayout.JAVA_INT, 8, fault.backendFd);
            pfds.set(ValueLayout.JAVA_SHORT, 12, Libc.POLLIN);
            for (;;) {
                long stamp = writeLock();
                try {
                    if (!SwFault.answered(group) && !closed && state.objects.get(fault.id) == fault) fault.sync();
                    long left = deadline - System.nanoTime();
                    if (SwFault.answered(group) || left <= 0) {
                        Libc.close(group.waker);
                        group.waker = -1;
                        return SwFault.answered(group) ? group.code : -1;
                    }
                    pfds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                    pfds.set(ValueLayout.JAVA_SHORT, 14, (short) 0);
                } finally {
                    unlockWrite(stamp);
                }
                long left = deadline - System.nanoTime();
                Libc.poll(pfds, 2, (int) Math.max(1, Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000)));
            }
        }
    }
}
