package io.github.iommufd4j.internal;

import java.lang.foreign.MemorySegment;

/**
 * The seam between the typed API and an iommufd: the kernel ABI itself. Requests are the
 * kernel's ioctl numbers and arguments are the kernel's structs, laid out exactly as in the
 * UAPI headers. Every call returns what the syscall returns: a non-negative result, or
 * {@code -errno}. Implementations: {@link NativeBackend} (the real {@code /dev/iommu}) and
 * {@code SoftwareBackend} (an in-process iommufd with the same ABI and errno).
 */
public interface IommufdBackend extends AutoCloseable {

    /** "native" or "software". */
    String name();

    /** {@code ioctl(iommufd, request, arg)}: the result or {@code -errno}. */
    int ioctl(long request, MemorySegment arg);

    /**
     * {@code read(2)} on a file descriptor this backend handed out (a fault queue's fd).
     * Bytes read, or {@code -errno}.
     */
    long read(int fd, MemorySegment buf, long count);

    /** {@code write(2)} on a file descriptor this backend handed out. Bytes written, or {@code -errno}. */
    long write(int fd, MemorySegment buf, long count);

    /** Closes a file descriptor this backend handed out (fault queue, mock access). 0 or {@code -errno}. */
    int closeFd(int fd);

    /**
     * mmap(2) of the iommufd at {@code offset} (a region a driver exposes, e.g. a vIOMMU's),
     * shared, read-write: the address, or {@code -errno}.
     */
    long mmap(long offset, long length);

    /** munmap(2) of what {@link #mmap} returned: 0 or {@code -errno}. */
    int munmap(long address, long length);

    /** The iommufd's own file descriptor, or -1 when there is none (software backend). */
    int fd();

    /**
     * Tells the backend that {@code user_va} fields may point into this segment. The native
     * backend ignores it (the kernel pins the pages); the software backend reads and writes user
     * memory only through segments registered here, so a closed arena gives EFAULT, not a crash.
     */
    default void registerMemory(MemorySegment segment) {}

    /** Ends one {@link #registerMemory} of this segment (registrations are counted). */
    default void unregisterMemory(MemorySegment segment) {}

    /**
     * {@link #registerMemory} of {@code memory[from]} to {@code memory[to - 1]}, then
     * {@link #ioctl}: the software backend does both in one step (one lock).
     */
    default int ioctl(long request, MemorySegment arg, MemorySegment[] memory, int from, int to) {
        for (int i = from; i < to; i++) registerMemory(memory[i]);
        return ioctl(request, arg);
    }

    /**
     * {@link #ioctl(long, MemorySegment, MemorySegment[], int, int)} for a caller that keeps a
     * per-thread buffer for the {@code errno} the native backend captures (see
     * {@code Libc.errnoBuffer}; other backends ignore it) and keeps {@code arg} alive and open
     * for the call itself (memory it owns): the native backend passes only its address.
     */
    default int ioctl(long request, MemorySegment arg, MemorySegment[] memory, int from, int to, MemorySegment errno) {
        return ioctl(request, arg, memory, from, to);
    }

    /** Closes the iommufd; the kernel then destroys every object in it. */
    @Override
    void close();
}
