package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_page_response;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A reusable batch of {@code struct iommu_hwpt_page_response} records (cookie, code) written to
 * a fault queue in one write(2). Not thread-safe.
 */
public final class PageResponses {
    /** sizeof(struct iommu_hwpt_page_response). */
    public static final int RECORD = (int) iommu_hwpt_page_response.sizeof();
    /** IOMMUFD_PAGE_RESP_SUCCESS / _INVALID. */
    public static final int SUCCESS = Uapi.IOMMUFD_PAGE_RESP_SUCCESS(), INVALID = Uapi.IOMMUFD_PAGE_RESP_INVALID();
    private static final long COOKIE = iommu_hwpt_page_response.cookie$offset(), CODE = iommu_hwpt_page_response.code$offset();

    private final MemorySegment buffer;
    private final int capacity;
    private int count;

    /** The largest capacity: a batch's bytes fit a write(2) count. */
    public static final int MAX_CAPACITY = Integer.MAX_VALUE / RECORD;

    /** A batch of up to {@code capacity} answers in its own (automatically freed) native memory. */
    public PageResponses(int capacity) {
        if (capacity < 1 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("capacity must be 1.." + MAX_CAPACITY + " answers: " + capacity);
        }
        this.buffer = Arena.ofAuto().allocate((long) capacity * RECORD, 8);
        this.capacity = capacity;
    }

    /**
     * Queues an answer; false when the batch is full (respond first). The code is written as given
     * (the kernel refuses anything but SUCCESS and INVALID with EINVAL).
     */
    public boolean add(int cookie, int code) {
        if (count == capacity) return false;
        long at = (long) count * RECORD;
        buffer.set(JAVA_INT, at + COOKIE, cookie);
        buffer.set(JAVA_INT, at + CODE, code);
        count++;
        return true;
    }

    public int count() {
        return count;
    }

    public int capacity() {
        return capacity;
    }

    public MemorySegment buffer() {
        return buffer;
    }

    /** Answer i's cookie. */
    public int cookie(int i) {
        return buffer.get(JAVA_INT, at(i) + COOKIE);
    }

    /** Answer i's code. */
    public int code(int i) {
        return buffer.get(JAVA_INT, at(i) + CODE);
    }

    private long at(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("answer " + i + " of " + count + " queued");
        return (long) i * RECORD;
    }

    /** Drops the first {@code n} queued answers, e.g. one the kernel refused, so that the rest can be written. */
    public void removeFirst(int n) {
        if (n < 0 || n > count) throw new IndexOutOfBoundsException("cannot remove " + n + " of " + count + " queued answers");
        MemorySegment.copy(buffer, (long) n * RECORD, buffer, 0, (long) (count - n) * RECORD);
        count -= n;
    }

    /** Drops the first {@code n} queued answers (the ones written). */
    void consumed(int n) {
        removeFirst(Math.min(n, count));
    }

    public void clear() {
        count = 0;
    }

    /** The answers queued (the first 8 of them). */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("PageResponses[").append(count).append(" of ").append(capacity);
        for (int i = 0; i < Math.min(count, 8); i++) {
            int code = code(i);
            sb.append(i == 0 ? ": " : ", ").append("cookie ").append(cookie(i)).append(' ')
                    .append(code == SUCCESS ? "SUCCESS" : code == INVALID ? "INVALID" : "code " + code);
        }
        return sb.append(count > 8 ? ", ...]" : "]").toString();
    }
}
