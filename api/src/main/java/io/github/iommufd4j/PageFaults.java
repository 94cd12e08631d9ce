package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.Uapi;
import io.github.iommufd4j.bindings.uapi.iommu_hwpt_pgfault;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A reusable batch of {@code struct iommu_hwpt_pgfault} records read from a fault queue. Field
 * getters take the record index and read the native buffer directly (no objects per fault).
 * Not thread-safe: one reader uses a batch.
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

    private final MemorySegment buffer;
    private final int capacity;
    private int count;

    /** The largest capacity: a batch's bytes fit a read(2) count. */
    public static final int MAX_CAPACITY = Integer.MAX_VALUE / RECORD;

    /** A batch of up to {@code capacity} records in its own (automatically freed) native memory. */
    public PageFaults(int capacity) {
        this(Arena.ofAuto().allocate((long) checkCapacity(capacity) * RECORD, 8), capacity);
    }

    /**
     * A batch over caller-provided memory: native, writable, 8-byte aligned, at least
     * {@code capacity * 40} bytes.
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
    }

    private static int checkCapacity(int capacity) {
        if (capacity < 1 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("capacity must be 1.." + MAX_CAPACITY + " records: " + capacity);
        }
        return capacity;
    }

    public MemorySegment buffer() {
        return buffer;
    }

    public int capacity() {
        return capacity;
    }

    long capacityBytes() {
        return (long) capacity * RECORD;
    }

    /** Records in the batch after the last read. */
    public int count() {
        return count;
    }

    /** Sets the number of valid records (for readers that fill {@link #buffer()} themselves). */
    public void setCount(int count) {
        if (count < 0 || count > capacity) {
            throw new IndexOutOfBoundsException("count " + count + " outside 0.." + capacity + " (the batch's capacity)");
        }
        this.count = count;
    }

    private long at(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("record " + i + " of a batch of " + count + " records read");
        return (long) i * RECORD;
    }

    /** Record i's IOMMU_PGFAULT_FLAGS_* bits. */
    public int flags(int i) { return buffer.get(JAVA_INT, at(i) + FLAGS); }
    /** The iommufd device id of the faulting device. */
    public int deviceId(int i) { return buffer.get(JAVA_INT, at(i) + DEV_ID); }
    /** The PASID, meaningful when {@link #pasidValid(int)}. */
    public int pasid(int i) { return buffer.get(JAVA_INT, at(i) + PASID); }
    /** The page request group id. */
    public int groupId(int i) { return buffer.get(JAVA_INT, at(i) + GRPID); }
    /** IOMMU_PGFAULT_PERM_* bits: the access the device attempted. */
    public int perm(int i) { return buffer.get(JAVA_INT, at(i) + PERM); }
    /** The faulting IO virtual address. */
    public long address(int i) { return buffer.get(JAVA_LONG, at(i) + ADDR); }
    /** The fault length (0 from the kernel today). */
    public int length(int i) { return buffer.get(JAVA_INT, at(i) + LENGTH); }
    /** The cookie to answer with (one per group: the last record's). */
    public int cookie(int i) { return buffer.get(JAVA_INT, at(i) + COOKIE); }
    public boolean pasidValid(int i) { return (flags(i) & FLAG_PASID_VALID) != 0; }
    /** True for the last record of a page request group: the group is answered once, after it. */
    public boolean lastPage(int i) { return (flags(i) & FLAG_LAST_PAGE) != 0; }

    /** The batch's size and its records (the first 8 of them). */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("PageFaults[").append(count).append(" of ").append(capacity);
        for (int i = 0; i < Math.min(count, 8); i++) sb.append(i == 0 ? ": " : ", ").append(toString(i));
        return sb.append(count > 8 ? ", ...]" : "]").toString();
    }

    /** A readable form of record i, for logs and tests. */
    public String toString(int i) {
        return "PageFault[dev=" + deviceId(i) + ", pasid=" + (pasidValid(i) ? pasid(i) : "-") + ", grpid=" + groupId(i)
                + ", perm=0x" + Integer.toHexString(perm(i)) + ", addr=0x" + Long.toHexString(address(i))
                + ", cookie=" + cookie(i) + (lastPage(i) ? ", last" : "") + "]";
    }
}
