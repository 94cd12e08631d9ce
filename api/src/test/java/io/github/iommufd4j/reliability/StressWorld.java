package io.github.iommufd4j.reliability;

import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.pump.FaultPump;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * One iommufd of the lifecycle stress test and the handles made from it, shared by every worker
 * thread: fixed-size slots that the workers fill, use and close concurrently, and the pumps
 * serving its fault queues. Closing the world closes its pumps and its iommufd (in either order).
 */
final class StressWorld {
    final Iommufd fd;
    final MockDriver mock;
    final Slots<Ioas> ioas = new Slots<>(3, Ioas::isClosed);
    final Slots<MockDevice> devices = new Slots<>(3, MockDevice::isClosed);
    /** Mock devices whose I/O page faults go to a fault queue (behind a nested IOPF page table). */
    final Slots<MockDevice> faulting = new Slots<>(3, MockDevice::isClosed);
    final Slots<HwPagetable> hwpts = new Slots<>(3, HwPagetable::isClosed);
    final Slots<FaultQueue> queues = new Slots<>(3, FaultQueue::isClosed);
    final Slots<MockAccess> accesses = new Slots<>(2, MockAccess::isClosed);
    final Slots<Pump> pumps = new Slots<>(2, Pump::isClosed);
    /** Groups a pump's handler deferred, to be answered by a worker. */
    final ConcurrentLinkedQueue<Deferred> deferred = new ConcurrentLinkedQueue<>();
    /** Set by the one thread that closes this world. */
    final AtomicBoolean closing = new AtomicBoolean();
    volatile boolean closed;
    /** A close the kernel refused (EBUSY): its object may live until the iommufd closes. */
    volatile boolean refusedClose;
    private final AtomicInteger maxId = new AtomicInteger();

    StressWorld(Iommufd fd) {
        this.fd = fd;
        this.mock = fd.mock();
    }

    /** Notes an object id, so that the final check knows how far to look. */
    void noteId(int id) {
        maxId.accumulateAndGet(id, Math::max);
    }

    int maxId() {
        return maxId.get();
    }

    /** Closes the pumps and the iommufd, in an order chosen by {@code random}. */
    void close(Random random) {
        closed = true;
        if (random.nextBoolean()) {
            pumps.all().forEach(Pump::close);
            fd.close();
        } else {
            fd.close();
            pumps.all().forEach(Pump::close);
        }
    }

    /**
     * Slots of shared handles. A slot holds a handle until it is closed and cleared, or until a
     * new handle takes the place of a closed one.
     */
    static final class Slots<T extends AutoCloseable> {
        private final AtomicReferenceArray<T> slots;
        private final Predicate<T> closed;

        Slots(int n, Predicate<T> closed) {
            this.slots = new AtomicReferenceArray<>(n);
            this.closed = closed;
        }

        /** A random slot's handle, or null. */
        T pick(Random random) {
            return slots.get(random.nextInt(slots.length()));
        }

        /** Puts {@code h} into an empty slot or one whose handle is closed; false if all are taken. */
        boolean offer(T h) {
            for (int i = 0; i < slots.length(); i++) {
                T cur = slots.get(i);
                if ((cur == null || closed.test(cur)) && slots.compareAndSet(i, cur, h)) return true;
            }
            return false;
        }

        void remove(T h) {
            for (int i = 0; i < slots.length(); i++) slots.compareAndSet(i, h, null);
        }

        List<T> all() {
            List<T> out = new ArrayList<>();
            for (int i = 0; i < slots.length(); i++) {
                T h = slots.get(i);
                if (h != null) out.add(h);
            }
            return out;
        }
    }

    /**
     * A fault pump in a slot. The pump is set once started; a close that comes first is
     * carried out by the starter ({@link #started}). Once closed it is handed to
     * {@code onClosed}, which looks at what it did and what failed.
     */
    static final class Pump implements AutoCloseable {
        private volatile FaultPump pump;
        private volatile boolean closed;
        private final AtomicBoolean reported = new AtomicBoolean();
        private final List<FaultQueue> queues;
        private final Consumer<Pump> onClosed;

        Pump(List<FaultQueue> queues, Consumer<Pump> onClosed) {
            this.queues = queues;
            this.onClosed = onClosed;
        }

        List<FaultQueue> queues() {
            return queues;
        }

        void started(FaultPump p) {
            pump = p;
            if (closed) close();
        }

        FaultPump pump() {
            return pump;
        }

        boolean isClosed() {
            return closed;
        }

        @Override
        public void close() {
            closed = true;
            FaultPump p = pump;
            if (p != null) {
                p.close();
                if (reported.compareAndSet(false, true)) onClosed.accept(this);
            }
        }
    }

    /** A group a pump's handler deferred. */
    record Deferred(Pump pump, long ticket) {}

    /**
     * Closes every handle in the slots, leaves first (pumps, accesses, devices, page tables,
     * queues, IOAS); a refused close is noted. Returns what else went wrong.
     */
    List<Throwable> closeAll() {
        List<Throwable> errors = new ArrayList<>();
        List<Slots<? extends AutoCloseable>> order = List.of(pumps, accesses, faulting, devices, hwpts, queues, ioas);
        for (Slots<? extends AutoCloseable> s : order) {
            for (AutoCloseable h : s.all()) close(h, errors);
        }
        return errors;
    }

    /** Closes {@code h}; a refused close is noted, any other error added to {@code errors}. */
    void close(AutoCloseable h, List<Throwable> errors) {
        try {
            h.close();
        } catch (IommufdException e) {
            if (e.errnoName().equals("EBUSY")) refusedClose = true;
            else errors.add(e);
        } catch (Exception e) {
            errors.add(e);
        }
    }
}
