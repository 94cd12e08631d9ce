package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;

/**
 * A vEVENTQ (7.3 {@code eventq.c}, docs/kernel-behaviour.md §5.7): events of one type queued by its vIOMMU, at most
 * {@link #depth} real ones, with the single LOST_EVENTS header and the 31-bit sequence numbers.
 * The fd is an eventfd that is readable exactly while records are queued, so poll and io_uring
 * see the kernel's readiness; the backend's {@link #read} gives the kernel's records. (A raw
 * read(2) of the fd returns the eventfd counter instead: the one visible difference.)
 */
final class SwVeventq extends SwObject {
    static final int HEADER = 8, FLAG_LOST_EVENTS = 1;

    /** A queued record: {@code data} null for the lost-events header. */
    private record Event(int sequence, byte[] data) {}

    final SwViommu viommu;
    final int type;
    final int depth;
    final int fd;
    boolean fdOpen = true;
    private final ArrayDeque<Event> deliver = new ArrayDeque<>();
    /** Real events queued (the lost header is not counted). */
    private int numEvents;
    private int sequence;
    private boolean signalled;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment word = arena.allocate(8, 8);

    SwVeventq(int id, SwViommu viommu, int type, int depth, int fd) {
        super(id);
        this.viommu = viommu;
        this.type = type;
        this.depth = depth;
        this.fd = fd;
        this.users = 1; // the fd's reference, as for a fault queue
    }

    @Override
    Kind kind() {
        return Kind.VEVENTQ;
    }

    /** {@code iommufd_viommu_report_event} + {@code iommufd_vevent_handler}. */
    void report(byte[] data) {
        boolean full = numEvents == depth;
        // A trailing lost header goes: either it moves to the tail again or a new event follows the gap.
        if (!deliver.isEmpty() && deliver.peekLast().data == null) deliver.pollLast();
        if (full) {
            deliver.addLast(new Event(sequence, null));
        } else {
            deliver.addLast(new Event(sequence, data));
            numEvents++;
        }
        sequence = (sequence + 1) & Integer.MAX_VALUE;
        signal();
    }

    /** {@code iommufd_veventq_fops_read}. */
    long read(MemorySegment buf, long count) {
        if (count < HEADER) return -Err.EINVAL;
        long done = 0;
        while (!deliver.isEmpty()) {
            Event e = deliver.peekFirst();
            if (done >= count || HEADER > count - done) break;
            int len = e.data == null ? 0 : e.data.length;
            if (e.data != null && HEADER + len > count - done) {
                if (done == 0) return -Err.EINVAL;
                break;
            }
            if (!put(buf, done, e, len)) {
                if (done == 0) return -Err.EFAULT;
                break;
            }
            deliver.pollFirst();
            if (e.data != null) numEvents--;
            done += HEADER + len;
        }
        signal();
        return done;
    }

    /** One record (header, then data) into {@code buf} at {@code at}; false where the copy to user fails. */
    private boolean put(MemorySegment buf, long at, Event e, int len) {
        int flags = e.data == null ? FLAG_LOST_EVENTS : 0;
        if (UserCopy.raw(buf)) { // raw memory may be gone: copied as the kernel's copy_to_user would
            word.set(ValueLayout.JAVA_INT, 0, flags);
            word.set(ValueLayout.JAVA_INT, 4, e.sequence);
            return UserCopy.copy(word, 0, buf, at, HEADER) && (len == 0 || UserCopy.copy(MemorySegment.ofArray(e.data), 0, buf, at + HEADER, len));
        }
        try { // no slice or wrapper per record: the pump reads here allocation-free
            buf.set(ValueLayout.JAVA_INT_UNALIGNED, at, flags);
            buf.set(ValueLayout.JAVA_INT_UNALIGNED, at + 4, e.sequence);
            if (len > 0) MemorySegment.copy(e.data, 0, buf, ValueLayout.JAVA_BYTE, at + HEADER, len);
            return true;
        } catch (IndexOutOfBoundsException | IllegalStateException | WrongThreadException | IllegalArgumentException x) {
            return false;
        }
    }

    /** Keeps the eventfd readable exactly while records are queued. */
    private void signal() {
        if (!fdOpen) return;
        boolean want = !deliver.isEmpty();
        if (want == signalled) return;
        if (want) {
            word.set(ValueLayout.JAVA_LONG, 0, 1);
            Libc.writeNoErrno(fd, word, 8);
        } else {
            Libc.readNoErrno(fd, word, 8);
        }
        signalled = want;
    }

    void closeFd() {
        if (!fdOpen) return;
        fdOpen = false;
        Libc.close(fd);
    }

    /** DESTROY or the iommufd closed: events are dropped. */
    void destroy() {
        deliver.clear();
        closeFd();
        arena.close();
    }
}
