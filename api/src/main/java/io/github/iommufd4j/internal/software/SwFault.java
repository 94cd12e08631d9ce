package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_page_response;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_pgfault;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.Predicate;

/**
 * A fault queue (§5): a FAULT object whose fd is one end of a Unix stream socket pair. Fault
 * groups are written as 40-byte {@code iommu_hwpt_pgfault} records into the backend's end when
 * they are reported, so poll/io_uring on the user's end see POLLIN exactly while undelivered
 * records exist and a raw {@code read()} gets real records. Responses written raw into the user's
 * end arrive at the backend's end and are drained at every call touching the queue.
 *
 * <p>What has been read is found out with FIONREAD: the records still unread in the user's end
 * are the newest ones written. Differences from the kernel, all invisible through the seam:
 * <ul>
 * <li>The kernel assigns a group's cookie when the group is read; here it is assigned when the
 * group is written into the socket (the lowest free one among the unanswered groups). Responses
 * are only accepted for groups already read, as in the kernel.</li>
 * <li>A raw {@code read()} of the user's end is O_NONBLOCK and returns EAGAIN when empty where
 * the kernel returns 0; the seam's {@link #read} returns 0.</li>
 * <li>Groups that do not fit into the socket buffer wait in memory and are written at the next
 * call touching the queue.</li>
 * </ul>
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class SwFault extends SwObject {
    static final int RECORD = (int) iommu_hwpt_pgfault.sizeof(), RESPONSE = (int) iommu_hwpt_page_response.sizeof();
    static final int FLAG_PASID_VALID = 1, FLAG_LAST_PAGE = 2;
    static final int SUCCESS = 0, INVALID = 1;
    private static final long FIONREAD = 0x541B;
    private static final int IO_SIZE = 4096;

    /** One page request: the fields of the record but the cookie. */
    record Fault(int flags, int devId, int pasid, int grpid, int perm, long addr) {}

    /** A page request group: answered as a whole by one response. */
    static final class Group {
        final SwDevice device;
        final SwHwpt hwpt;
        /** The attachment it came through: the PASID {@link #hwpt} is attached at (0: the RID). */
        final int attachment;
        final List<Fault> faults;
        int cookie;
        boolean delivered;
        /** -1 until answered, then SUCCESS or INVALID. */
        int code = -1;
        /** An eventfd a DMA waiting for the answer polls, or -1. */
        int waker = -1;

        Group(SwDevice device, SwHwpt hwpt, int attachment, List<Fault> faults) {
            this.device = device;
            this.hwpt = hwpt;
            this.attachment = attachment;
            this.faults = faults;
        }

        int bytes() {
            return faults.size() * RECORD;
        }
    }

    final int userFd;
    final int backendFd;
    boolean userFdOpen = true;
    /** Groups written into the socket and not yet read, oldest first. */
    private final GroupQueue inSocket = new GroupQueue();
    /** Bytes of {@link #inSocket} groups in the socket. */
    private long sentBytes;
    /** Reported groups waiting for room in the socket, oldest first. */
    private final GroupQueue unsent = new GroupQueue();
    /**
     * The group being written, serialized into native memory (so a reader that flushes writes
     * allocates nothing): its first {@link #staged} bytes are still to be written.
     */
    private MemorySegment staging;
    private long staged;
    /** Unanswered groups by cookie (cookies are the lowest free, so the array stays dense). */
    private Group[] outstanding = new Group[64];
    private final BitSet cookies = new BitSet();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment io = arena.allocate(IO_SIZE, 8);
    private final MemorySegment word = arena.allocate(8, 8);
    /** A response record written raw, possibly in pieces. */
    private final MemorySegment partial = arena.allocate(RESPONSE, 8);
    private int partialLength;
    {
        staging = arena.allocate(IO_SIZE, 8);
    }

    SwFault(int id, int userFd, int backendFd) {
        super(id);
        this.userFd = userFd;
        this.backendFd = backendFd;
        this.users = 1; // the fd's reference (§5.1)
    }

    @Override
    Kind kind() {
        return Kind.FAULT;
    }

    /** Queues a reported group (§5.2) after taking in any raw responses. */
    void report(Group g) {
        sync();
        g.cookie = cookies.nextClearBit(1);
        cookies.set(g.cookie);
        if (g.cookie >= outstanding.length) outstanding = java.util.Arrays.copyOf(outstanding, outstanding.length * 2);
        outstanding[g.cookie] = g;
        unsent.add(g);
        flush();
    }

    /** Takes in raw responses, learns which records were read, and writes waiting groups. */
    void sync() {
        if (userFdOpen) { // what was read first: a response can only answer a group already read
            int rc = Libc.ioctlNoErrno(userFd, FIONREAD, word);
            long unread = rc < 0 ? sentBytes : word.get(ValueLayout.JAVA_INT, 0);
            long consumed = sentBytes - unread;
            while (!inSocket.isEmpty() && inSocket.peek().bytes() <= consumed) {
                Group g = inSocket.poll();
                consumed -= g.bytes();
                sentBytes -= g.bytes();
                g.delivered = true;
            }
        }
        drainResponses();
        flush();
    }

    private void drainResponses() {
        for (;;) {
            long n = Libc.readNoErrno(backendFd, io, IO_SIZE);
            if (n <= 0) return;
            for (long off = 0; off < n; off++) {
                partial.set(ValueLayout.JAVA_BYTE, partialLength++, io.get(ValueLayout.JAVA_BYTE, off));
                if (partialLength < RESPONSE) continue;
                partialLength = 0;
                // A bad raw response has nobody to return EINVAL to: it is dropped.
                respond(partial.get(ValueLayout.JAVA_INT, 0), partial.get(ValueLayout.JAVA_INT, 4));
            }
        }
    }

    /** Writes waiting groups into the socket while it takes them. */
    private void flush() {
        if (!userFdOpen) return;
        for (;;) {
            if (staged == 0) {
                Group g = unsent.peek();
                if (g == null) return;
                serialize(g);
                if (writeStaged() == 0) {
                    staged = 0; // nothing fit: serialized again next time
                    return;
                }
                inSocket.add(unsent.poll()); // in the socket from its first byte on
            } else if (writeStaged() == 0) {
                return;
            }
            if (staged > 0) return; // the socket is full
        }
    }

    /** One non-blocking write of the staged bytes; what is left moves to the front. Bytes written. */
    private long writeStaged() {
        long n = Libc.writeNoErrno(backendFd, staging, staged);
        if (n <= 0) return 0;
        if (n < staged) MemorySegment.copy(staging, n, staging, 0, staged - n);
        staged -= n;
        sentBytes += n;
        return n;
    }

    /** The group's records (the kernel's struct iommu_hwpt_pgfault) into {@link #staging}. */
    private void serialize(Group g) {
        if (g.bytes() > staging.byteSize()) staging = arena.allocate(Math.max(g.bytes(), 2 * staging.byteSize()), 8);
        for (int i = 0; i < g.faults.size(); i++) {
            Fault f = g.faults.get(i);
            long r = (long) i * RECORD;
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.flags$offset(), f.flags());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.dev_id$offset(), f.devId());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.pasid$offset(), f.pasid());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.grpid$offset(), f.grpid());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.perm$offset(), f.perm());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.__reserved$offset(), 0);
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.length$offset(), 0);
            staging.set(ValueLayout.JAVA_LONG, r + iommu_hwpt_pgfault.addr$offset(), f.addr());
            staging.set(ValueLayout.JAVA_INT, r + iommu_hwpt_pgfault.cookie$offset(), g.cookie);
        }
        staged = g.bytes();
    }

    /**
     * read(2) on the fault fd (§5.3): whole groups while they fit into {@code count}; 0 when
     * nothing is pending (never EAGAIN).
     */
    long read(MemorySegment buf, long count) {
        if (count % RECORD != 0) return -Err.ESPIPE;
        sync();
        if (inSocket.isEmpty()) return 0;
        if (count == 0) return -Err.EINVAL;
        long total = 0;
        for (int i = 0; i < inSocket.size() && total + inSocket.get(i).bytes() <= count; i++) {
            total += inSocket.get(i).bytes();
        }
        if (total == 0) return -Err.EINVAL;
        if (total > buf.byteSize() || buf.isReadOnly() || !buf.isNative()) return -Err.EFAULT; // a heap segment has no user address
        // Raw memory may be gone: probe it with the bytes about to be overwritten, before taking records out of the socket.
        if (UserCopy.raw(buf) && !UserCopy.copy(MemorySegment.ofArray(new byte[(int) total]), 0, buf, 0, total)) return -Err.EFAULT;
        long n;
        try {
            n = Libc.readNoErrno(userFd, buf, total);
        } catch (IllegalStateException | WrongThreadException closed) { // the buffer's arena is closed or confined elsewhere
            return -Err.EFAULT;
        }
        if (n < 0) return UserCopy.raw(buf) ? -Err.EFAULT : 0;
        if (n == 0) return 0;
        long done = 0;
        while (!inSocket.isEmpty() && done + inSocket.peek().bytes() <= n) {
            Group g = inSocket.poll();
            done += g.bytes();
            sentBytes -= g.bytes();
            g.delivered = true;
        }
        return n;
    }

    /**
     * write(2) on the fault fd (§5.4): responses in order, stopping at the first bad one; bytes
     * consumed if any, else the error.
     */
    long write(MemorySegment buf, long count) {
        if (count % RESPONSE != 0) return -Err.ESPIPE;
        if (count == 0) return 0;
        sync();
        long done = 0;
        int err = 0;
        for (; done < count; done += RESPONSE) {
            if (done + RESPONSE > buf.byteSize() || !UserCopy.copy(buf, done, word, 0, RESPONSE)) {
                err = Err.EFAULT;
                break;
            }
            int cookie = word.get(ValueLayout.JAVA_INT, 0);
            int code = word.get(ValueLayout.JAVA_INT, 4);
            err = respond(cookie, code);
            if (err != 0) break;
        }
        return done > 0 ? done : -err;
    }

    /** Answers the read group with this cookie: 0, or EINVAL for a bad code or cookie. */
    private int respond(int cookie, int code) {
        if (code != SUCCESS && code != INVALID) return Err.EINVAL;
        Group g = cookie > 0 && cookie < outstanding.length ? outstanding[cookie] : null;
        if (g == null || !g.delivered) return Err.EINVAL;
        complete(g, code);
        return 0;
    }

    private void complete(Group g, int code) {
        outstanding[g.cookie] = null;
        cookies.clear(g.cookie);
        g.code = code;
        if (g.waker >= 0) {
            word.set(ValueLayout.JAVA_LONG, 0, 1);
            Libc.writeNoErrno(g.waker, word, 8);
        }
    }

    /**
     * Answers INVALID and drops every unanswered group matching {@code which}, read or not (§5.5:
     * detach or replace away from the fault HWPT). Unread ones are taken out of the socket.
     */
    void answerInvalid(Predicate<Group> which) {
        sync();
        List<Group> pending = inSocket.toList();
        pending.addAll(unsent.toList());
        if (pending.stream().anyMatch(which) && userFdOpen) {
            while (Libc.readNoErrno(userFd, io, IO_SIZE) > 0) {
                // empty the socket; the groups kept are written again below
            }
            inSocket.clear();
            unsent.clear();
            sentBytes = 0;
            staged = 0;
            for (Group g : pending) if (!which.test(g)) unsent.add(g);
        }
        for (Group g : unanswered()) {
            if (which.test(g)) {
                inSocket.remove(g);
                unsent.remove(g);
                complete(g, INVALID);
            }
        }
        flush();
    }

    private List<Group> unanswered() {
        List<Group> out = new ArrayList<>();
        for (Group g : outstanding) if (g != null) out.add(g);
        return out;
    }

    /** The user closed the fd: nothing more can be read; groups stay until answered (§5.5). */
    void closeUserFd() {
        if (!userFdOpen) return;
        userFdOpen = false;
        Libc.close(userFd);
    }

    /** Destruction (DESTROY, or the iommufd closed): every remaining group is answered INVALID. */
    void destroy() {
        for (Group g : unanswered()) complete(g, INVALID);
        inSocket.clear();
        unsent.clear();
        closeUserFd();
        Libc.close(backendFd);
        arena.close();
    }

    /** A FIFO of groups with indexed access, allocation-free once grown. */
    private static final class GroupQueue {
        private Group[] items = new Group[16];
        private int head, size;

        int size() {
            return size;
        }

        boolean isEmpty() {
            return size == 0;
        }

        Group get(int i) {
            return items[(head + i) & (items.length - 1)];
        }

        Group peek() {
            return size == 0 ? null : items[head];
        }

        void add(Group g) {
            if (size == items.length) {
                Group[] bigger = new Group[items.length * 2];
                for (int i = 0; i < size; i++) bigger[i] = get(i);
                items = bigger;
                head = 0;
            }
            items[(head + size++) & (items.length - 1)] = g;
        }

        Group poll() {
            Group g = items[head];
            items[head] = null;
            head = (head + 1) & (items.length - 1);
            size--;
            return g;
        }

        List<Group> toList() {
            List<Group> out = new ArrayList<>(size);
            for (int i = 0; i < size; i++) out.add(get(i));
            return out;
        }

        void remove(Group g) {
            List<Group> rest = toList();
            if (!rest.remove(g)) return;
            clear();
            rest.forEach(this::add);
        }

        void clear() {
            java.util.Arrays.fill(items, null);
            head = size = 0;
        }
    }

    /** Whether the DMA waiting on {@code g} can stop waiting. */
    static boolean answered(Group g) {
        return g.code >= 0;
    }
}
