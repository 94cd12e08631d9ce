package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_page_response;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A reusable batch of {@code struct iommu_hwpt_page_response} records (8 bytes each: cookie,
 * code): the answers to page request groups, written to a {@link FaultQueue} in one write(2) by
 * {@link FaultQueue#respond(PageResponses)}. Adding an answer allocates nothing once the batch
 * has held its largest count. Not thread-safe.
 *
 * <p>Answers are queued in a Java array, one 8-byte word each, and copied into the native buffer
 * the kernel reads in one bulk copy by {@link #buffer()}: adding is an array store instead of a
 * native memory access with its checks (docs/performance.md, "Where a fault's instructions go").
 */
public final class PageResponses {
    /** sizeof(struct iommu_hwpt_page_response). */
    public static final int RECORD = (int) iommu_hwpt_page_response.sizeof();
    /** IOMMUFD_PAGE_RESP_SUCCESS / _INVALID. */
    public static final int SUCCESS = Uapi.IOMMUFD_PAGE_RESP_SUCCESS(), INVALID = Uapi.IOMMUFD_PAGE_RESP_INVALID();
    private static final long COOKIE = iommu_hwpt_page_response.cookie$offset(), CODE = iommu_hwpt_page_response.code$offset();
    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    static {
        if (RECORD != 8 || COOKIE != 0 || CODE != 4) throw new ExceptionInInitializerError("struct iommu_hwpt_page_response is not {u32 cookie; u32 code}");
    }

    private final MemorySegment buffer;
    private final int capacity;
    private int count;
    /** The queued answers as the kernel reads them (cookie at offset 0, code at 4, native byte order); grows to the largest count. */
    private long[] words;

    /** The largest capacity: a batch's bytes fit a write(2) count. */
    public static final int MAX_CAPACITY = Integer.MAX_VALUE / RECORD;

    /**
     * A batch of up to {@code capacity} answers in its own native memory, freed when the batch is
     * unreachable.
     *
     * @param capacity the most answers it holds, 1 to {@link #MAX_CAPACITY}
     * @throws IllegalArgumentException for a capacity outside that range
     */
    public PageResponses(int capacity) {
        if (capacity < 1 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("capacity must be 1.." + MAX_CAPACITY + " answers: " + capacity);
        }
        this.buffer = Arena.ofAuto().allocate((long) capacity * RECORD, 8);
        this.capacity = capacity;
        this.words = new long[Math.min(capacity, 256)];
    }

    /**
     * Queues an answer. The code is written as given: the kernel refuses anything but SUCCESS and
     * INVALID with EINVAL.
     *
     * @param cookie the group's cookie ({@link PageFaults#cookie(int)} of its last record)
     * @param code   {@link #SUCCESS} (the pages are there: the device retries) or {@link #INVALID}
     *               (the access fails)
     * @return true if queued; false when the batch is full (respond first)
     */
    public boolean add(int cookie, int code) {
        if (count == capacity) return false;
        if (count == words.length) words = Arrays.copyOf(words, (int) Math.min(capacity, 2L * words.length));
        long cookieBits = Integer.toUnsignedLong(cookie), codeBits = Integer.toUnsignedLong(code);
        words[count++] = LITTLE_ENDIAN ? codeBits << 32 | cookieBits : cookieBits << 32 | codeBits;
        return true;
    }

    /**
     * Answers queued and not yet written.
     *
     * @return the count
     */
    public int count() {
        return count;
    }

    /**
     * The most answers the batch holds.
     *
     * @return the capacity
     */
    public int capacity() {
        return capacity;
    }

    /**
     * The native buffer holding the queued answers ({@link #RECORD} bytes each, from offset 0),
     * for writers that write it themselves (then {@link #removeFirst(int)} what was written).
     * Each call copies the answers queued now into it: answers added later are in the buffer
     * only after the next call, so call this before each write rather than keeping the segment.
     *
     * @return the buffer
     */
    public MemorySegment buffer() {
        MemorySegment.copy(words, 0, buffer, JAVA_LONG, 0, count);
        return buffer;
    }

    /**
     * Answer {@code i}'s cookie.
     *
     * @param i the answer's index, below {@link #count()}
     * @return the cookie
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int cookie(int i) {
        return (int) (LITTLE_ENDIAN ? words[at(i)] : words[at(i)] >>> 32);
    }

    /**
     * Answer {@code i}'s code.
     *
     * @param i the answer's index, below {@link #count()}
     * @return {@link #SUCCESS}, {@link #INVALID} or what was added
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int code(int i) {
        return (int) (LITTLE_ENDIAN ? words[at(i)] >>> 32 : words[at(i)]);
    }

    private int at(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("answer " + i + " of " + count + " queued");
        return i;
    }

    /**
     * Drops the first {@code n} queued answers, e.g. those written, or one the kernel refused so
     * that the rest can be written.
     *
     * @param n answers to drop, 0 to {@link #count()}
     * @throws IndexOutOfBoundsException outside that range
     */
    public void removeFirst(int n) {
        if (n < 0 || n > count) throw new IndexOutOfBoundsException("cannot remove " + n + " of " + count + " queued answers");
        System.arraycopy(words, n, words, 0, count - n);
        count -= n;
    }

    /** Drops the first {@code n} queued answers (the ones written). */
    void consumed(int n) {
        removeFirst(Math.min(n, count));
    }

    /** Drops every queued answer. */
    public void clear() {
        count = 0;
    }

    /**
     * The answers queued (the first 8 of them).
     *
     * @return e.g. {@code PageResponses[1 of 64: cookie 1 SUCCESS]}
     */
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
