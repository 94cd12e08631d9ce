package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.MockDriver.U;
import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A mock driver access (IOMMU_TEST_OP_CREATE_ACCESS): an in-kernel user of an IOAS that reads,
 * writes and pins memory by IOVA, as an emulated device's DMA would. Identified by a file
 * descriptor; closing it destroys the access.
 */
public final class MockAccess extends Handle {
    private final int fd;

    MockAccess(Iommufd iommufd, int fd) {
        super(iommufd);
        this.fd = fd;
    }

    /**
     * The access's file descriptor (what the mock ops take as id). Owned by this handle.
     *
     * @return the fd
     */
    public int fd() {
        return fd;
    }

    /**
     * ACCESS_RW: copies between {@code buffer} and the memory mapped at {@code iova}, byte-granular,
     * across adjacent mappings.
     *
     * @param iova   the first IOVA
     * @param buffer native memory, at most 16 MiB; writable unless {@code write}
     * @param write  true copies buffer to IOVA memory (the kernel reads the buffer), false copies IOVA
     *               memory into the buffer
     * @throws IommufdException ENOENT when a byte of the range is not mapped (or the access is
     *         detached), EINVAL for an empty buffer, ENOMEM above 16 MiB, EPERM writing read-only
     *         mappings
     * @throws IllegalArgumentException for heap memory, or a read-only buffer when reading
     * @throws IllegalStateException when the buffer's arena is closed
     */
    public void rw(long iova, MemorySegment buffer, boolean write) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, IOMMU_TEST_OP_ACCESS_RW(), fd);
            s.set(JAVA_LONG, U + 16, write ? k.kernelReads(buffer, buffer.byteSize(), "buffer")
                    : k.kernelWrites(buffer, buffer.byteSize(), "buffer"));
            s.set(JAVA_LONG, U, iova);
            s.set(JAVA_LONG, U + 8, buffer.byteSize());
            s.set(JAVA_INT, U + 24, write ? MOCK_ACCESS_RW_WRITE() : 0);
            MockDriver.run(k, "ACCESS_RW", x -> "access_fd=" + iommu_test_cmd.id(x) + ", iova=" + Ioas.hex(x.get(JAVA_LONG, U))
                    + ", length=" + Ioas.hex(x.get(JAVA_LONG, U + 8)) + ((x.get(JAVA_INT, U + 24) & MOCK_ACCESS_RW_WRITE()) != 0 ? ", write" : ", read"));
        }
    }

    /**
     * ACCESS_PAGES: pins {@code [iova, iova+length)}, as a mediated device pinning guest pages for
     * DMA would. An unmap of that range first makes the mock unpin it.
     *
     * @param iova   the first IOVA
     * @param length bytes, at most 16 MiB
     * @param write  whether the pages are pinned for write
     * @return the pin's id, for {@link #unpin}
     * @throws IommufdException EOPNOTSUPP when the access was made without {@code needsPinPages},
     *         ENOMEM above 16 MiB, EINVAL for length 0, ENOENT when the range is not mapped
     */
    public int pin(long iova, long length, boolean write) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, IOMMU_TEST_OP_ACCESS_PAGES(), fd);
            s.set(JAVA_INT, U, write ? MOCK_FLAGS_ACCESS_WRITE() : 0);
            s.set(JAVA_LONG, U + 8, iova);
            s.set(JAVA_LONG, U + 16, length);
            MockDriver.run(k, "ACCESS_PAGES", x -> "access_fd=" + iommu_test_cmd.id(x) + ", iova=" + Ioas.hex(x.get(JAVA_LONG, U + 8))
                    + ", length=" + Ioas.hex(x.get(JAVA_LONG, U + 16)));
            return s.get(JAVA_INT, U + 4);
        }
    }

    /**
     * DESTROY_ACCESS_PAGES: releases a pin.
     *
     * @param pinId what {@link #pin} returned
     * @throws IommufdException ENOENT when unknown or already dropped (e.g. by an unmap)
     */
    public void unpin(int pinId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MockDriver.cmd(k, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES(), fd).set(JAVA_INT, U, pinId);
            MockDriver.run(k, "DESTROY_ACCESS_PAGES", x -> "access_fd=" + iommu_test_cmd.id(x) + ", pin=" + x.get(JAVA_INT, U));
        }
    }

    /**
     * ACCESS_REPLACE_IOAS: moves the access to another IOAS, dropping its pins.
     *
     * @param ioas the new address space (the access is then closed before it too)
     * @throws IommufdException ENOENT for a destroyed IOAS, EADDRINUSE when its alignment cannot rise
     */
    public void replaceIoas(Ioas ioas) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD").hold(ioas)) {
            MockDriver.cmd(k, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS(), fd).set(JAVA_INT, U, ioas.id());
            MockDriver.run(k, "ACCESS_REPLACE_IOAS", x -> "access_fd=" + iommu_test_cmd.id(x) + ", ioas=" + x.get(JAVA_INT, U));
            ioas.addDependent(this); // the new IOAS must close it first too
        }
    }

    @Override
    void release() {
        releaseFds();
    }

    @Override
    void closeFds() {
        iommufd.raw().closeFd(fd);
    }

    @Override
    String describe() {
        return "access_fd=" + fd;
    }

    /**
     * Names the access by fd.
     *
     * @return e.g. {@code MockAccess[fd=15]}
     */
    @Override
    public String toString() {
        return "MockAccess[fd=" + fd + (isClosed() ? ", closed" : "") + "]";
    }
}
