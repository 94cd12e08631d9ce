package io.github.iommufd4j.internal.software;

/** Unsigned 64-bit arithmetic, as the kernel's {@code u64}/{@code unsigned long}. */
final class U64 {
    private U64() {}

    static final long MAX = -1L;
    static final long PAGE_SIZE = 4096;
    /** HPAGE_SIZE with CONFIG_TRANSPARENT_HUGEPAGE on x86-64. */
    static final long HPAGE_SIZE = 2L << 20;

    static boolean lt(long a, long b) {
        return Long.compareUnsigned(a, b) < 0;
    }

    static boolean le(long a, long b) {
        return Long.compareUnsigned(a, b) <= 0;
    }

    static long min(long a, long b) {
        return lt(a, b) ? a : b;
    }

    static long max(long a, long b) {
        return lt(a, b) ? b : a;
    }

    /** {@code check_add_overflow(a, b)}. */
    static boolean addOverflows(long a, long b) {
        return lt(a + b, a);
    }

    /** {@code roundup_pow_of_two} for {@code 0 < x <= 2^63}. */
    static long roundupPow2(long x) {
        long h = Long.highestOneBit(x);
        return h == x ? x : h << 1;
    }

    /** True when the ranges [s1,l1] and [s2,l2] share a byte. */
    static boolean intersects(long s1, long l1, long s2, long l2) {
        return le(s1, l2) && le(s2, l1);
    }
}
