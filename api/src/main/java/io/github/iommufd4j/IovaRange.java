package io.github.iommufd4j;

/** An inclusive IOVA range {@code [start, last]}, as the kernel reports and takes them. */
public record IovaRange(long start, long last) {
    /** The number of bytes, saturating at Long.MAX for the full 64-bit space. */
    public long length() {
        long n = last - start + 1;
        return n == 0 ? -1L : n; // -1 (unsigned 2^64) for [0, ~0]
    }

    @Override
    public String toString() {
        return "[0x" + Long.toHexString(start) + ", 0x" + Long.toHexString(last) + "]";
    }
}
