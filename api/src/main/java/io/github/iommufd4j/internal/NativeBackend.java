package io.github.iommufd4j.internal;

import io.github.iommufd4j.bindings.Libc;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;

/** The real iommufd: each call is the syscall on {@code /dev/iommu} (or a handed-over fd). */
public final class NativeBackend implements IommufdBackend {
    public static final String DEVICE = "/dev/iommu";
    private final int fd;

    private NativeBackend(int fd) {
        this.fd = fd;
    }

    /** Opens {@code /dev/iommu}: the backend, or {@code -errno}'s description in the exception. */
    public static NativeBackend open(String path) throws NativeOpenException {
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new NativeOpenException(path, -fd);
        return new NativeBackend(fd);
    }

    /** Wraps an iommufd file descriptor handed over by a privileged helper; takes ownership. */
    public static NativeBackend adopt(int fd) {
        return new NativeBackend(fd);
    }

    /** Why {@code open(/dev/iommu)} failed. */
    public static final class NativeOpenException extends Exception {
        public final String path;
        public final int errno;

        NativeOpenException(String path, int errno) {
            super(path + ": " + io.github.iommufd4j.bindings.Errno.name(errno));
            this.path = path;
            this.errno = errno;
        }
    }

    @Override
    public String name() {
        return "native";
    }

    @Override
    public int ioctl(long request, MemorySegment arg) {
        return Libc.ioctl(fd, request, arg);
    }

    /** The kernel pins user memory itself: nothing to register. */
    @Override
    public int ioctl(long request, MemorySegment arg, MemorySegment[] memory, int from, int to) {
        return Libc.ioctl(fd, request, arg);
    }

    /** By address: the caller keeps {@code arg} alive and open (an address skips the downcall's segment checks). */
    @Override
    public int ioctl(long request, MemorySegment arg, MemorySegment[] memory, int from, int to, MemorySegment errno) {
        int rc = Libc.ioctl(errno, fd, request, arg.address());
        Reference.reachabilityFence(arg);
        return rc;
    }

    @Override
    public long mmap(long offset, long length) {
        return Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, offset);
    }

    @Override
    public int munmap(long address, long length) {
        return Libc.munmap(address, length);
    }

    @Override
    public long read(int fd, MemorySegment buf, long count) {
        return Libc.read(fd, buf, count);
    }

    @Override
    public long write(int fd, MemorySegment buf, long count) {
        return Libc.write(fd, buf, count);
    }

    @Override
    public int closeFd(int fd) {
        return Libc.close(fd);
    }

    @Override
    public int fd() {
        return fd;
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
