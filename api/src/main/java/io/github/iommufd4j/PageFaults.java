package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_pgfault;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A reusable batch of {@code struct iommu_hwpt_pgfault} records (40 bytes each) read from a
 * {@link FaultQueue}: the I/O page faults a VMM resolves. Field getters take the record index;
 * reading faults allocates nothing once a batch has held its largest read. Records of one page
 * request group are consecutive; the group's last record has {@link #lastPage(int)} set and
 * carries the {@link #cookie(int)} to answer with ({@link PageResponses#add(int, int)}).
 * Not thread-safe: one reader uses a batch.
 *
 * <p>The kernel writes the records into a native buffer; {@link #setCount(int)} (which every read
 * calls) copies them into a Java array in one bulk copy, and the field getters read that array.
 * A getter is then an array load instead of a native memory access with its liveness, bounds and
 * alignment checks, which cost a fault pump about a hundred instructions per fault
 * (docs/performance.md, "Where a fault's instructions go").
 */
public final class PageFaults {
    /** sizeof(struct iommu_hwpt_pgfault). */
    public static final int RECORD = (int) iommu_hwpt_pgfault.sizeof();
    private static final long FLAGS = iommu_hwpt_pgfault.flags$offset(), DEV_ID = iommu_hwpt_pgfault.dev_id$offset(),
            PASID = iommu_hwpt_pgfault.pasid$offset(), GRPID = iommu_hwpt_pgfault.grpid$offset(),
            PERM = iommu_hwpt_pgfault.perm$offset(), ADDR = iommu_hwpt_pgfault.addr$offset(),
            LENGTH = iommu_hwpt_pgfault.length$offset(), COOKIE = iommu_hwpt_pgfault.cookie$offset();
    /** Fault flags and permission bits (IOMMU_PGFAULT_*). */
    public static final int FLAG_PASID_VALID = Uapi.IOMMU_PGFAULT_FLAGS_PASID_VALID(),
            FLAG_LAST_PAGE = Uapi.IOMMU_PGFAULT_FLAGS_LAST_PAGE(),
            PERM_READ = Uapi.IOMMU_PGFAULT_PERM_READ(), PERM_WRITE = Uapi.IOMMU_PGFAULT_PERM_WRITE(),
            PERM_EXEC = Uapi.IOMMU_PGFAULT_PERM_EXEC(), PERM_PRIV = Uapi.IOMMU_PGFAULT_PERM_PRIV();
    /** 8-byte words per record. */
    private static final int WORDS = RECORD / 8;
    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    static {
        if (RECORD % 8 != 0 || ADDR % 8 != 0) throw new ExceptionInInitializerError("struct iommu_hwpt_pgfault is not 8-byte words with addr on one");
    }

    private final MemorySegment buffer;
    private final int capacity;
    private int count;
    /** The records of the last read, copied from {@link #buffer} by {@link #setCount(int)}; grows to the largest read. */
    private long[] words;

    /** The largest capacity: a batch's bytes fit a read(2) count. */
    public static final int MAX_CAPACITY = Integer.MAX_VALUE / RECORD;

    /**
     * A batch of up to {@code capacity} records in its own native memory, freed when the batch is
     * unreachable.
     *
     * @param capacity the most records one read returns, 1 to {@link #MAX_CAPACITY}
     * @throws IllegalArgumentException for a capacity outside that range
     */
    public PageFaults(int capacity) {
        this(Arena.ofAuto().allocate((long) checkCapacity(capacity) * RECORD, 8), capacity);
    }

    /**
     * A batch over caller-provided memory, e.g. a buffer an io_uring reads into. The caller keeps
     * the memory alive while the batch is used.
     *
     * @param buffer   native, writable, 8-byte aligned memory of at least {@code capacity * 40} bytes
     * @param capacity the most records it holds, 1 to {@link #MAX_CAPACITY}
     * @throws IllegalArgumentException for a null, heap, read-only, misaligned or too small buffer, or
     *         a capacity outside that range
     */
    public PageFaults(MemorySegment buffer, int capacity) {
        checkCapacity(capacity);
        if (buffer == null) throw new IllegalArgumentException("buffer is null");
        if (!buffer.isNative()) throw new IllegalArgumentException("the kernel writes the records: native memory needed, not " + buffer);
        if (buffer.isReadOnly()) throw new IllegalArgumentException("the kernel writes the records: " + buffer + " is read-only");
        if (buffer.address() % 8 != 0) throw new IllegalArgumentException("buffer not 8-byte aligned: " + buffer);
        if (buffer.byteSize() < (long) capacity * RECORD) {
            throw new IllegalArgumentException("buffer of " + buffer.byteSize() + " bytes too small for " + capacity
                    + " records of " + RECORD + " bytes");
        }
        this.buffer = buffer;
        this.capacity = capacity;
        this.words = new long[Math.min(capacity, 256) * WORDS];
    }

    private static int checkCapacity(int capacity) {
        if (capacity < 1 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("capacity must be 1.." + MAX_CAPACITY + " records: " + capacity);
        }
        return capacity;
    }

    /**
     * The native buffer the kernel writes the records into ({@link #RECORD} bytes each, from
     * offset 0), for readers that fill it themselves (then {@link #setCount(int)}).
     *
     * @return the buffer
     */
    public MemorySegment buffer() {
        return buffer;
    }

    /**
     * The most records the batch holds.
     *
     * @return the capacity
     */
    public int capacity() {
        return capacity;
    }

    long capacityBytes() {
        return (long) capacity * RECORD;
    }

    /**
     * Records in the batch after the last read.
     *
     * @return the record count, 0 when the last read found nothing
     */
    public int count() {
        return count;
    }

    /**
     * Sets the number of valid records, for readers that fill {@link #buffer()} themselves, and
     * takes them in: the getters return what the buffer held at this call (a later change to the
     * buffer shows after the next call).
     *
     * @param count records now in the buffer, 0 to {@link #capacity()}
     * @throws IndexOutOfBoundsException outside that range
     */
    public void setCount(int count) {
        if (count < 0 || count > capacity) {
            throw new IndexOutOfBoundsException("count " + count + " outside 0.." + capacity + " (the batch's capacity)");
        }
        int n = count * WORDS;
        if (n > words.length) words = new long[(int) Math.min((long) capacity * WORDS, Math.max(n, 2L * words.length))];
        MemorySegment.copy(buffer, JAVA_LONG, 0, words, 0, n);
        this.count = count;
    }

    /** Record {@code i}'s 8-byte word at {@code offset}. */
    private long word(int i, long offset) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("record " + i + " of a batch of " + count + " records read");
        return words[i * WORDS + (int) (offset >>> 3)];
    }

    /** Record {@code i}'s 4-byte field at {@code offset}, in native byte order as the kernel wrote it. */
    private int int32(int i, long offset) {
        long w = word(i, offset);
        boolean high = LITTLE_ENDIAN == ((offset & 4) != 0);
        return (int) (high ? w >>> 32 : w);
    }

    /**
     * Record {@code i}'s IOMMU_PGFAULT_FLAGS_* bits.
     *
     * @param i the record index, below {@link #count()}
     * @return {@link #FLAG_PASID_VALID} and {@link #FLAG_LAST_PAGE} bits
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int flags(int i) { return int32(i, FLAGS); }
    /**
     * The iommufd device id of the faulting device ({@link VfioDevice#deviceId()}, {@link MockDevice#deviceId()}).
     *
     * @param i the record index, below {@link #count()}
     * @return the device id
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int deviceId(int i) { return int32(i, DEV_ID); }
    /**
     * The PASID of the faulting access, meaningful when {@link #pasidValid(int)}.
     *
     * @param i the record index, below {@link #count()}
     * @return the PASID
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int pasid(int i) { return int32(i, PASID); }
    /**
     * The page request group id the device gave (PRGI).
     *
     * @param i the record index, below {@link #count()}
     * @return the group id
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int groupId(int i) { return int32(i, GRPID); }
    /**
     * The access the device attempted.
     *
     * @param i the record index, below {@link #count()}
     * @return IOMMU_PGFAULT_PERM_* bits: {@link #PERM_READ}, {@link #PERM_WRITE}, {@link #PERM_EXEC}, {@link #PERM_PRIV}
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int perm(int i) { return int32(i, PERM); }
    /**
     * The faulting IO virtual address (the IOVA, or the guest virtual address for a PASID table).
     *
     * @param i the record index, below {@link #count()}
     * @return the address
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public long address(int i) { return word(i, ADDR); }
    /**
     * The fault's length in bytes.
     *
     * @param i the record index, below {@link #count()}
     * @return the length (0 from the kernel today: one page)
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int length(int i) { return int32(i, LENGTH); }
    /**
     * The cookie to answer with: one per group, the last record's, assigned when the group is read.
     *
     * @param i the record index, below {@link #count()}
     * @return the cookie
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public int cookie(int i) { return int32(i, COOKIE); }
    /**
     * Whether the fault carries a PASID (IOMMU_PGFAULT_FLAGS_PASID_VALID).
     *
     * @param i the record index, below {@link #count()}
     * @return true if {@link #pasid(int)} is meaningful
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public boolean pasidValid(int i) { return (flags(i) & FLAG_PASID_VALID) != 0; }
    /**
     * Whether this is the last record of a page request group: the group is answered once, after it.
     *
     * @param i the record index, below {@link #count()}
     * @return true for the group's last record
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public boolean lastPage(int i) { return (flags(i) & FLAG_LAST_PAGE) != 0; }

    /**
     * The batch's size and its records (the first 8 of them).
     *
     * @return e.g. {@code PageFaults[1 of 64: PageFault[dev=2, pasid=-, ...]]}
     */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("PageFaults[").append(count).append(" of ").append(capacity);
        for (int i = 0; i < Math.min(count, 8); i++) sb.append(i == 0 ? ": " : ", ").append(toString(i));
        return sb.append(count > 8 ? ", ...]" : "]").toString();
    }

    /**
     * A readable form of record {@code i}, for logs and tests.
     *
     * @param i the record index, below {@link #count()}
     * @return e.g. {@code PageFault[dev=2, pasid=-, grpid=1, perm=0x2, addr=0x20000, cookie=1, last]}
     * @throws IndexOutOfBoundsException for an index outside {@code 0 .. count()-1}
     */
    public String toString(int i) {
        return "PageFault[dev=" + deviceId(i) + ", pasid=" + (pasidValid(i) ? pasid(i) : "-") + ", grpid=" + groupId(i)
                + ", perm=0x" + Integer.toHexString(perm(i)) + ", addr=0x" + Long.toHexString(address(i))
                + ", cookie=" + cookie(i) + (lastPage(i) ? ", last" : "") + "]";
    }
}
