package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Libc;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A dma-buf of the mock driver (Linux 7.x, TEST_CMD DMABUF_GET): a buffer exported by the kernel
 * (on the software backend: a memfd it recognizes) that {@link Ioas#mapFile} maps through the
 * dma-buf path, and that can be revoked. Like any dma-buf it belongs to the process, not to the
 * iommufd: it outlives the iommufd, and only {@link #close()} closes its fd.
 */
public final class MockDmabuf implements AutoCloseable {
    private final MockDriver mock;
    private final int fd;
    private final long size;
    private final AtomicBoolean closed = new AtomicBoolean();

    MockDmabuf(MockDriver mock, int fd, long size) {
        this.mock = mock;
        this.fd = fd;
        this.size = size;
    }

    /**
     * The dma-buf's file descriptor (what {@link Ioas#mapFile} takes). Owned by this object.
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /**
     * Its size in bytes: the requested length rounded up to the page size.
     *
     * @return the size
     */
    public long size() {
        return size;
    }

    /**
     * DMABUF_REVOKE: revokes the buffer ({@code true}: new maps fail with ENODEV) or makes it
     * usable again. Either way every existing mapping of it is invalidated for good: its IOVAs stay
     * in the IOAS but translate nowhere until unmapped.
     *
     * @param revoked true to revoke, false to restore
     * @throws IommufdException EBADF after {@link #close()}, EOPNOTSUPP before Linux 7.x
     */
    public void revoke(boolean revoked) throws IommufdException {
        mock.revokeDmabuf(fd, revoked);
    }

    /** Closes the fd (idempotent). Mappings keep the buffer alive in the kernel until unmapped. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) Libc.close(fd);
    }

    /**
     * Names the buffer by fd and size.
     *
     * @return e.g. {@code MockDmabuf[fd=16, size=0x2000]}
     */
    @Override
    public String toString() {
        return "MockDmabuf[fd=" + fd + ", size=0x" + Long.toHexString(size) + "]";
    }
}
