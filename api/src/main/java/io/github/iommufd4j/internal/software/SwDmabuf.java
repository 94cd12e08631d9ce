package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A dma-buf of the 7.3 mock driver (TEST_CMD DMABUF_GET, docs/kernel-behaviour.md §6.2): a memfd
 * of the buffer's length, named {@value #NAME_PREFIX}{@code <serial>}. Like the kernel's dma-bufs
 * these are process-wide, not per iommufd: one made through one software iommufd can be revoked
 * or mapped through another. An fd is recognized by its memfd's name ({@code /proc/self/fd} link), so dups work.
 *
 * <p>Each IOAS_MAP_FILE of it is an {@link Attachment} (the kernel's importer attachment of one
 * pages object). DMABUF_REVOKE, with either value, invalidates every attachment, and an
 * invalidated pages object stays revoked for good ({@code iopt_revoke_notify} zeroes its
 * physical range): its IOVAs translate nowhere until unmapped. A new map needs the buffer not
 * revoked (ENODEV).
 *
 * <p>Unlike the kernel's, the registry entry (a few bytes) outlives the last fd: nothing tells the
 * backend when user space closes it.
 */
final class SwDmabuf {
    static final String NAME_PREFIX = "iommufd4j-mock-dmabuf-";
    private static final String LINK_PREFIX = SoftwareBackend.MOCK_DMABUF_LINK_PREFIX;
    private static final AtomicLong SERIAL = new AtomicLong();
    private static final ConcurrentHashMap<Long, SwDmabuf> ALL = new ConcurrentHashMap<>();

    /** One importer attachment: a pages object of some iommufd. */
    static final class Attachment {
        private final SwDmabuf dmabuf;
        /** Set by any DMABUF_REVOKE while attached; never cleared. */
        volatile boolean revoked;

        private Attachment(SwDmabuf dmabuf) {
            this.dmabuf = dmabuf;
        }

        /** The pages object is gone (its iommufd closed). */
        void detach() {
            synchronized (dmabuf) {
                dmabuf.attachments.remove(this);
            }
        }
    }

    /** The length, a multiple of PAGE_SIZE. */
    final long size;
    private boolean revoked;
    private final Set<Attachment> attachments = new HashSet<>();

    private SwDmabuf(long size) {
        this.size = size;
    }

    /**
     * DMABUF_GET: a new dma-buf of {@code size} bytes, installed at the lowest free fd as the
     * kernel does (the ioctl itself returns 0). Returns that fd or -errno.
     */
    static int create(long size, boolean cloexec) {
        long serial = SERIAL.incrementAndGet();
        int fd = Libc.memfdCreate(NAME_PREFIX + serial, cloexec ? Libc.MFD_CLOEXEC : 0);
        if (fd < 0) return fd;
        int rc = Libc.ftruncate(fd, size);
        if (rc < 0) {
            Libc.close(fd);
            return rc;
        }
        ALL.put(serial, new SwDmabuf(size));
        return fd;
    }

    /** {@code dma_buf_get}: the mock dma-buf {@code fd} refers to, null if it is another file; EBADF if no file. */
    static SwDmabuf of(int fd) {
        Err.when(fd < 0, Err.EBADF);
        String target;
        try {
            target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (java.io.IOException | UnsupportedOperationException e) {
            throw new Fail(Err.EBADF);
        }
        if (!target.startsWith(LINK_PREFIX)) return null;
        int end = LINK_PREFIX.length();
        while (end < target.length() && Character.isDigit(target.charAt(end))) end++;
        try {
            return ALL.get(Long.parseLong(target.substring(LINK_PREFIX.length(), end)));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** DMABUF_REVOKE: sets the state, and invalidates every attachment whatever the value. */
    synchronized void revoke(boolean revoke) {
        revoked = revoke;
        for (Attachment a : attachments) a.revoked = true;
    }

    /** {@code iopt_map_dmabuf}: a new attachment, or ENODEV when the buffer is revoked. */
    synchronized Attachment attach() {
        Err.when(revoked, Err.ENODEV);
        Attachment a = new Attachment(this);
        attachments.add(a);
        return a;
    }
}
