package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Copies between the backend and user memory that fail like the kernel's copy_from_user and
 * copy_to_user ({@code false}: EFAULT), never with a JVM crash; and the kernel's pin test. See
 * {@code docs/software-backend.md}.
 *
 * <p>A native segment owned by an arena (confined, shared, automatic, or a raw address given
 * one with {@code reinterpret(size, arena, cleanup)}) is trusted: its memory lives while the
 * arena does, so it is copied directly, and a closed arena only throws (caught here). A native
 * segment of the global scope ({@code MemorySegment.ofAddress(va).reinterpret(n)},
 * {@code Arena.global()}) promises nothing: the mapping under it may be gone or read-only. It is
 * copied through a per-thread bounce buffer with {@code process_vm_readv}/{@code process_vm_writev}
 * on this process, which the kernel fails with EFAULT where the memory is not there.
 */
final class UserCopy {
    private UserCopy() {}

    private static final MemorySegment.Scope GLOBAL = MemorySegment.NULL.scope();
    private static final long PAGE = U64.PAGE_SIZE;
    /** Bytes per system call on the raw path. */
    private static final long CHUNK = 64 << 10;
    private static final int PID = Libc.getpid();
    /** MADV_POPULATE_* (Linux 5.14+) answers EINVAL for an unknown advice; msync then only checks the range is mapped. */
    private static final boolean POPULATE;

    static {
        MemorySegment page = Arena.ofAuto().allocate(PAGE, PAGE);
        POPULATE = Libc.madvise(page.address(), PAGE, Libc.MADV_POPULATE_READ) == 0;
    }

    /** Per thread: the local and the remote iovec, and the bounce buffer. */
    private record Scratch(MemorySegment local, MemorySegment remote, MemorySegment bounce) {
        static Scratch allocate() {
            Arena arena = Arena.ofAuto();
            return new Scratch(arena.allocate(Libc.IOVEC), arena.allocate(Libc.IOVEC), arena.allocate(CHUNK, PAGE));
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::allocate);

    /** Whether {@code s} is raw memory: native, of the global scope, so nothing vouches that it is mapped. */
    static boolean raw(MemorySegment s) {
        return s.isNative() && s.scope() == GLOBAL;
    }

    /** Copies {@code len} bytes; false (EFAULT) where the kernel's copy would fault. May stop part way, as the kernel's does. */
    static boolean copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long len) {
        boolean rawSrc = raw(src), rawDst = raw(dst);
        if (!rawSrc && !rawDst) return direct(src, srcOffset, dst, dstOffset, len);
        if (len < 0 || srcOffset < 0 || dstOffset < 0 || srcOffset > src.byteSize() - len || dstOffset > dst.byteSize() - len
                || dst.isReadOnly()) {
            return false;
        }
        Scratch s = SCRATCH.get();
        for (long done = 0; done < len; ) {
            long n = Math.min(CHUNK, len - done);
            boolean in = rawSrc ? vm(s, false, src.address() + srcOffset + done, n) : direct(src, srcOffset + done, s.bounce, 0, n);
            if (!in) return false;
            boolean out = rawDst ? vm(s, true, dst.address() + dstOffset + done, n) : direct(s.bounce, 0, dst, dstOffset + done, n);
            if (!out) return false;
            done += n;
        }
        return true;
    }

    /**
     * The unsigned 32-bit value at {@code offset} (a struct's size field), or -1 where the
     * kernel's copy would fault: {@link #copy} of 4 bytes into {@code via} (kernel memory), read
     * in place for memory an arena owns.
     */
    static long readInt(MemorySegment s, long offset, MemorySegment via) {
        if (raw(s)) return copy(s, offset, via, 0, 4) ? Integer.toUnsignedLong(via.get(JAVA_INT_UNALIGNED, 0)) : -1;
        try {
            return Integer.toUnsignedLong(s.get(JAVA_INT_UNALIGNED, offset));
        } catch (IllegalStateException | WrongThreadException | IndexOutOfBoundsException e) {
            return -1;
        }
    }

    /** A plain copy; a closed, foreign-thread, read-only or too small segment gives false. */
    private static boolean direct(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long len) {
        try {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, len);
            return true;
        } catch (IllegalStateException | WrongThreadException | IndexOutOfBoundsException | IllegalArgumentException
                 | UnsupportedOperationException e) {
            return false;
        }
    }

    /** {@code n} bytes between the bounce buffer and {@code remote}: readv (remote → bounce) or writev (bounce → remote). */
    private static boolean vm(Scratch s, boolean write, long remote, long n) {
        s.local.set(JAVA_LONG, 0, s.bounce.address());
        s.local.set(JAVA_LONG, 8, n);
        s.remote.set(JAVA_LONG, 0, remote);
        s.remote.set(JAVA_LONG, 8, n);
        long r = write ? Libc.processVmWritev(PID, s.local, 1, s.remote, 1) : Libc.processVmReadv(PID, s.local, 1, s.remote, 1);
        return r == n;
    }

    /**
     * Whether the kernel could pin {@code [offset, offset+len)} of {@code s} (its pages; for
     * {@code write} with FOLL_WRITE): the segment must be alive (and not read-only for a write),
     * and its pages are faulted in as a pin would, with MADV_POPULATE_READ/WRITE, which fails for
     * an unmapped range (ENOMEM) and for a protection or mapping the pin refuses (EINVAL).
     */
    static boolean pinnable(MemorySegment s, long offset, long len, boolean write) {
        if (write && s.isReadOnly()) return false;
        if (!s.scope().isAlive()) return false;
        // Arena memory is asked too: a VMM's guest RAM is often an mmap (a PROT_READ one too) that an
        // arena only unmaps at close, and the kernel's pin fails on such a mapping with EFAULT.
        long va = s.address() + offset;
        long first = va & -PAGE, end = (va + len + PAGE - 1) & -PAGE;
        if (POPULATE) return Libc.madvise(first, end - first, write ? Libc.MADV_POPULATE_WRITE : Libc.MADV_POPULATE_READ) == 0;
        return Libc.msync(first, end - first, Libc.MS_ASYNC) == 0;
    }
}
