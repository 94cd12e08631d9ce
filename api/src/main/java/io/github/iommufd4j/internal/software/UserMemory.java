package io.github.iommufd4j.internal.software;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.internal.software.U64.le;

/**
 * The "user address space" of the software backend: the segments registered with
 * {@code registerMemory}, by address. User memory is read and written only through the
 * registered segment that holds the whole range, with {@link UserCopy}: a closed arena, or raw
 * memory that is no longer mapped, gives EFAULT, never a crash. An address no live registration
 * holds behaves like an unmapped user VA. Where this differs from the kernel's pinned pages, see
 * {@code docs/software-backend.md}.
 *
 * <p>Registrations are counted: the same range of the same memory session registered twice needs
 * two unregistrations. A heap segment has no user address and is not registered.
 */
final class UserMemory {
    /** start = address, last = address + size - 1, flags = registration count, ref = the segment. */
    private final RangeTable segments = new RangeTable(true);
    /** The largest size ever registered: bounds the backward walk of {@link #resolve}. */
    private long maxSize;

    void register(MemorySegment s) {
        long size = s.byteSize();
        if (size == 0 || !s.isNative()) return;
        long p = exact(s);
        if (p >= 0) {
            segments.setFlags(p, segments.flags(p) + 1);
            return;
        }
        segments.insert(s.address(), s.address() + size - 1, 0, 1, 0, s);
        maxSize = Math.max(maxSize, size);
    }

    void unregister(MemorySegment s) {
        if (s.byteSize() == 0 || !s.isNative()) return;
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

    /** The row of a live registration holding {@code [va, va+len)} ({@code len > 0}), or -1 (unmapped user memory). */
    private long find(long va, long len) {
        long last = va + len - 1;
        if (len <= 0 || U64.lt(last, va)) return -1;
        for (long p = segments.floor(va); p >= 0; p = segments.prev(p)) {
            long start = segments.start(p);
            if (Long.compareUnsigned(va - start, maxSize) >= 0) break;
            if (le(last, segments.last(p)) && ((MemorySegment) segments.ref(p)).scope().isAlive()) return p;
        }
        return -1;
    }

    /** Whether the kernel could pin {@code [va, va+len)}, for writing when {@code write} (see {@link UserCopy#pinnable}). */
    boolean pinnable(long va, long len, boolean write) {
        if (len == 0) return true;
        long p = find(va, len);
        return p >= 0 && UserCopy.pinnable((MemorySegment) segments.ref(p), va - segments.start(p), len, write);
    }

    /** Copies user memory into {@code dst}; false where the kernel's copy_from_user fails. */
    boolean read(long va, MemorySegment dst, long dstOffset, long len) {
        if (len == 0) return true;
        long p = find(va, len);
        return p >= 0 && UserCopy.copy((MemorySegment) segments.ref(p), va - segments.start(p), dst, dstOffset, len);
    }

    /** Copies {@code src} into user memory; false where the kernel's copy_to_user fails. */
    boolean write(long va, MemorySegment src, long srcOffset, long len) {
        if (len == 0) return true;
        long p = find(va, len);
        return p >= 0 && UserCopy.copy(src, srcOffset, (MemorySegment) segments.ref(p), va - segments.start(p), len);
    }

    /** User memory as a heap copy aligned for the UAPI layouts (user pointers need not be), or null. */
    MemorySegment copyIn(long va, long len) {
        MemorySegment heap = MemorySegment.ofArray(new long[(int) ((len + 7) / 8)]).asSlice(0, len);
        return read(va, heap, 0, len) ? heap : null;
    }
}
