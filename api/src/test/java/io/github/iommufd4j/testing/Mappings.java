package io.github.iommufd4j.testing;

import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Anonymous memory mapped with mmap(2) and handed around as raw addresses, as a VMM's guest RAM
 * is, for the tests of memory that goes away under a mapping. Close unmaps what is left
 * (munmap of a range already gone is harmless).
 */
public final class Mappings implements AutoCloseable {
    private final List<long[]> made = new ArrayList<>();

    /** A new private anonymous mapping with this protection. */
    public long map(long length, int prot) {
        long va = Libc.mmap(0, length, prot, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        assertTrue(va > 0, "mmap: " + va);
        made.add(new long[] {va, length});
        return va;
    }

    /** A new read-write mapping exactly at {@code va} (MAP_FIXED_NOREPLACE): {@code va}, or another value if that failed. */
    public long mapAgainAt(long va, long length) {
        long again = Libc.mmap(va, length, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED_NOREPLACE, -1, 0);
        if (again > 0) made.add(new long[] {again, length});
        return again;
    }

    /** Keeps a mapping made elsewhere (e.g. of a memfd) to unmap it at close. */
    public long adopt(long va, long length) {
        assertTrue(va > 0, "mmap: " + va);
        made.add(new long[] {va, length});
        return va;
    }

    public static void unmap(long va, long length) {
        assertEquals(0, Libc.munmap(va, length));
    }

    /** The raw segment at {@code va}: global scope, nothing vouches for the memory under it. */
    public static MemorySegment at(long va, long length) {
        return MemorySegment.ofAddress(va).reinterpret(length);
    }

    @Override
    public void close() {
        for (long[] m : made) Libc.munmap(m[0], m[1]);
    }
}
