package io.github.iommufd4j.internal.software;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.internal.software.U64.le;

/**
 * The "user address space" of the software backend: the segments registered with
 * {@code registerMemory}, by address. User memory is read and written only through a slice of
 * the registered segment that holds the whole range, so a closed arena gives EFAULT (the
 * {@link IllegalStateException} is caught), never a crash. An address no live registration holds
 * behaves like an unmapped user VA.
 *
 * <p>Registrations are counted: the same range of the same memory session registered twice needs
 * two unregistrations.
 */
final class UserMemory {
    /** start = address, last = address + size - 1, flags = registration count, ref = the segment. */
    private final RangeTable segments = new RangeTable(true);
    /** The largest size ever registered: bounds the backward walk of {@link #resolve}. */
    private long maxSize;

    void register(MemorySegment s) {
        long size = s.byteSize();
        if (size == 0) return;
        long p = exact(s);
        if (p >= 0) {
            segments.setFlags(p, segments.flags(p) + 1);
            return;
        }
        segments.insert(s.address(), s.address() + size - 1, 0, 1, 0, s);
        maxSize = Math.max(maxSize, size);
    }

    void unregister(MemorySegment s) {
        if (s.byteSize() == 0) return;
        long p = exact(s);
        if (p < 0) return;
        int count = segments.flags(p) - 1;
        if (count == 0) segments.remove(p);
        else segments.setFlags(p, count);
    }

    void clear() {
        segments.clear();
    }

    private long exact(MemorySegment s) {
        long a = s.address(), l = a + s.byteSize() - 1;
        for (long p = segments.floor(a); p >= 0 && segments.start(p) == a; p = segments.prev(p)) {
            if (segments.last(p) == l && ((MemorySegment) segments.ref(p)).scope().equals(s.scope())) return p;
        }
        return -1;
    }

    /** A live slice holding {@code [va, va+len)} ({@code len > 0}), or null (unmapped user memory). */
    MemorySegment resolve(long va, long len) {
        long last = va + len - 1;
        if (len <= 0 || U64.lt(last, va)) return null;
        for (long p = segments.floor(va); p >= 0; p = segments.prev(p)) {
            long start = segments.start(p);
            if (Long.compareUnsigned(va - start, maxSize) >= 0) break;
            if (le(last, segments.last(p))) {
                MemorySegment m = (MemorySegment) segments.ref(p);
                if (m.scope().isAlive()) return m.asSlice(va - start, len);
            }
        }
        return null;
    }

    /** Whether the kernel could pin {@code [va, va+len)}. */
    boolean reachable(long va, long len) {
        return len == 0 || resolve(va, len) != null;
    }

    /** Copies user memory into {@code dst}; false where the kernel's copy_from_user fails. */
    boolean read(long va, MemorySegment dst, long dstOffset, long len) {
        if (len == 0) return true;
        MemorySegment src = resolve(va, len);
        return src != null && copy(src, 0, dst, dstOffset, len);
    }

    /** Copies {@code src} into user memory; false where the kernel's copy_to_user fails. */
    boolean write(long va, MemorySegment src, long srcOffset, long len) {
        if (len == 0) return true;
        MemorySegment dst = resolve(va, len);
        return dst != null && copy(src, srcOffset, dst, 0, len);
    }

    /** User memory as a heap copy aligned for the UAPI layouts (user pointers need not be), or null. */
    MemorySegment copyIn(long va, long len) {
        MemorySegment heap = MemorySegment.ofArray(new long[(int) ((len + 7) / 8)]).asSlice(0, len);
        return read(va, heap, 0, len) ? heap : null;
    }

    /** A copy that fails like the kernel's (EFAULT) when either side is gone. */
    static boolean copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long len) {
        try {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, len);
            return true;
        } catch (IllegalStateException | WrongThreadException | IndexOutOfBoundsException | UnsupportedOperationException e) {
            return false;
        }
    }
}
