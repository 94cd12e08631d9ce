package io.github.iommufd4j;

/**
 * An inclusive IOVA range {@code [start, last]}, as the kernel reports and takes them. Both
 * bounds are unsigned 64-bit values.
 *
 * @param start the first IOVA of the range
 * @param last  the last IOVA of the range (not one past it)
 */
public record IovaRange(long start, long last) {
    /**
     * The number of bytes in the range.
     *
     * @return {@code last - start + 1}; -1 (2^64 as an unsigned value) for the whole 64-bit space
     */
    public long length() {
        long n = last - start + 1;
        return n == 0 ? -1L : n; // -1 (unsigned 2^64) for [0, ~0]
    }

    /**
     * The range in hex.
     *
     * @return e.g. {@code [0x1000000, 0x7fffffff]}
     */
    @Override
    public String toString() {
        return "[0x" + Long.toHexString(start) + ", 0x" + Long.toHexString(last) + "]";
    }
}
