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

    public PageResponses(int capacity) {
        this.buffer = Arena.ofAuto().allocate((long) capacity * RECORD, 8);
        this.capacity = capacity;
    }

    /** Queues an answer; false when the batch is full (respond first). */
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

    public int cookie(int i) {
        return buffer.get(JAVA_INT, (long) i * RECORD + COOKIE);
    }

    /** Drops the first {@code n} queued answers (the ones written). */
    void consumed(int n) {
        if (n >= count) {
            count = 0;
        } else {
            MemorySegment.copy(buffer, (long) n * RECORD, buffer, 0, (long) (count - n) * RECORD);
            count -= n;
        }
    }

    public void clear() {
        count = 0;
    }
}
