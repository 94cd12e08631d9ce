package io.github.iommufd4j;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A reusable batch of vEVENTs read from an {@link EventQueue}: views over one native buffer,
 * allocation-free after construction. Records are variable-sized (a LOST_EVENTS header has no
 * payload), so {@link #parse} indexes them.
 *
 * <p>Loss shows two ways, and {@link #lossBefore(int)} folds both: a LOST_EVENTS header, or a
 * gap in the sequence numbers (the kernel drops a trailing lost header when a new event arrives).
 * The expected sequence carries over from one read to the next.
 */
public final class VirtualEvents {
    /** {@code sizeof(struct iommufd_vevent_header)}. */
    public static final int HEADER = 8;
    /** {@code IOMMU_VEVENTQ_FLAG_LOST_EVENTS}. */
    public static final int FLAG_LOST_EVENTS = 1;
    private static final int SEQUENCE_MASK = 0x7fffffff;

    private final int payloadSize;
    private final MemorySegment buffer;
    private final int[] offsets;
    private final boolean[] loss;
    private int count;
    /** The sequence number the next record should carry, or -1 before the first. */
    private int expected = -1;

    /**
     * A batch for {@code capacity} events of {@code payloadSize} bytes each; usually made by
     * {@link EventQueue#newBatch(int)}. Its native buffer belongs to an automatic arena.
     *
     * @param capacity    the most events one read returns, positive
     * @param payloadSize bytes of payload per event ({@link EventQueue#payloadSize()})
     * @throws IllegalArgumentException for a capacity that is not positive or a negative payload size
     */
    public VirtualEvents(int capacity, int payloadSize) {
        if (capacity <= 0 || payloadSize < 0) throw new IllegalArgumentException("capacity " + capacity + ", payload " + payloadSize);
        this.payloadSize = payloadSize;
        this.buffer = Arena.ofAuto().allocate((long) capacity * (HEADER + payloadSize), 8);
        this.offsets = new int[capacity + 1];
        this.loss = new boolean[capacity + 1];
    }

    MemorySegment buffer() {
        return buffer;
    }

    long capacityBytes() {
        return buffer.byteSize();
    }

    int payloadSize() {
        return payloadSize;
    }

    /** Indexes {@code bytes} of records just read; returns the record count. */
    int parse(int bytes) {
        int n = 0;
        for (int at = 0; at + HEADER <= bytes; n++) {
            offsets[n] = at;
            int flags = buffer.get(JAVA_INT_UNALIGNED, at), seq = buffer.get(JAVA_INT_UNALIGNED, at + 4);
            loss[n] = (flags & FLAG_LOST_EVENTS) != 0 || (expected >= 0 && seq != expected);
            expected = (seq + 1) & SEQUENCE_MASK;
            at += HEADER + ((flags & FLAG_LOST_EVENTS) != 0 ? 0 : payloadSize);
        }
        count = n;
        return n;
    }

    /**
     * Records in the batch after the last read (lost-events headers included).
     *
     * @return the record count
     */
    public int count() {
        return count;
    }

    /**
     * The record's header flags.
     *
     * @param i the record index, below {@link #count()}
     * @return e.g. {@link #FLAG_LOST_EVENTS}
     * @throws IndexOutOfBoundsException for an index outside the batch
     */
    public int flags(int i) {
        return buffer.get(JAVA_INT_UNALIGNED, offset(i));
    }

    /**
     * The record's sequence number (31 bits, wrapping), one per event the kernel queued.
     *
     * @param i the record index, below {@link #count()}
     * @return the sequence number
     * @throws IndexOutOfBoundsException for an index outside the batch
     */
    public int sequence(int i) {
        return buffer.get(JAVA_INT_UNALIGNED, offset(i) + 4);
    }

    /**
     * Whether the record is a LOST_EVENTS header: the queue overflowed and events were dropped.
     *
     * @param i the record index, below {@link #count()}
     * @return true for a header without payload
     * @throws IndexOutOfBoundsException for an index outside the batch
     */
    public boolean isLostEvents(int i) {
        return (flags(i) & FLAG_LOST_EVENTS) != 0;
    }

    /**
     * Whether events were lost right before this record: a lost-events header, or a gap in the
     * sequence numbers (also across reads).
     *
     * @param i the record index, below {@link #count()}
     * @return true if the guest's view may miss events here
     * @throws IndexOutOfBoundsException for an index outside the batch
     */
    public boolean lossBefore(int i) {
        offset(i);
        return loss[i];
    }

    /**
     * A 32-bit word of the payload, in the host's byte order.
     *
     * @param i          the record index, below {@link #count()}
     * @param byteOffset the word's offset in the payload (e.g. 0 for the mock's {@code virt_id})
     * @return the word
     * @throws IndexOutOfBoundsException for an index outside the batch or a word beyond the payload
     * @throws IllegalStateException for a lost-events header
     */
    public int payloadInt(int i, int byteOffset) {
        return buffer.get(JAVA_INT_UNALIGNED, payloadOffset(i, byteOffset, 4));
    }

    /**
     * A 64-bit word of the payload, in the host's byte order.
     *
     * @param i          the record index, below {@link #count()}
     * @param byteOffset the word's offset in the payload (e.g. 8n for an SMMUv3 event's {@code evt[n]})
     * @return the word
     * @throws IndexOutOfBoundsException for an index outside the batch or a word beyond the payload
     * @throws IllegalStateException for a lost-events header
     */
    public long payloadLong(int i, int byteOffset) {
        return buffer.get(JAVA_LONG_UNALIGNED, payloadOffset(i, byteOffset, 8));
    }

    /**
     * Copies the record's payload, e.g. into the guest's event queue.
     *
     * @param i         the record index, below {@link #count()}
     * @param dst       where to copy it
     * @param dstOffset the offset in {@code dst}, in bytes
     * @throws IndexOutOfBoundsException for an index outside the batch or too small a destination
     * @throws IllegalStateException for a lost-events header
     */
    public void copyPayload(int i, MemorySegment dst, long dstOffset) {
        MemorySegment.copy(buffer, payloadOffset(i, 0, payloadSize), dst, dstOffset, payloadSize);
    }

    private int offset(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("event " + i + " of " + count);
        return offsets[i];
    }

    private int payloadOffset(int i, int byteOffset, int size) {
        int at = offset(i);
        if (isLostEvents(i)) throw new IllegalStateException("event " + i + " is a lost-events header: no payload");
        if (byteOffset < 0 || byteOffset + size > payloadSize) throw new IndexOutOfBoundsException("payload offset " + byteOffset);
        return at + HEADER + byteOffset;
    }

    /**
     * The record count and capacity.
     *
     * @return e.g. {@code VirtualEvents[3 of 17]}
     */
    @Override
    public String toString() {
        return "VirtualEvents[" + count + " of " + offsets.length + "]";
    }
}
