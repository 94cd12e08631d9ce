package io.github.iommufd4j;

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
    private final MockDriver mock;
    private final int fd;

    MockAccess(Iommufd iommufd, MockDriver mock, int fd) {
        super(iommufd);
        this.mock = mock;
        this.fd = fd;
    }

    /** The access's file descriptor (what the mock ops take as id). */
    public int fd() {
        return fd;
    }

    /** ACCESS_RW: copies between {@code buffer} and IOVA memory; {@code write} copies buffer → IOVA. */
    public void rw(long iova, MemorySegment buffer, boolean write) throws IommufdException {
        io.github.iommufd4j.internal.UserSegments.requireLive(buffer, "buffer");
        enter("IOMMU_TEST_CMD");
        iommufd.raw().registerMemory(buffer);
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_ACCESS_RW(), fd);
            s.set(JAVA_LONG, U, iova);
            s.set(JAVA_LONG, U + 8, buffer.byteSize());
            s.set(JAVA_LONG, U + 16, buffer.address());
            s.set(JAVA_INT, U + 24, write ? MOCK_ACCESS_RW_WRITE() : 0);
            mock.run(s, "ACCESS_RW", "access_fd=" + fd + ", iova=" + Ioas.hex(iova) + ", length=" + Ioas.hex(buffer.byteSize())
                    + (write ? ", write" : ", read"));
        } finally {
            iommufd.raw().unregisterMemory(buffer);
            exit();
        }
    }

    /** ACCESS_PAGES: pins {@code [iova, +length)}; returns the pin's id (for {@link #unpin}). */
    public int pin(long iova, long length, boolean write) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_ACCESS_PAGES(), fd);
            s.set(JAVA_INT, U, write ? MOCK_FLAGS_ACCESS_WRITE() : 0);
            s.set(JAVA_LONG, U + 8, iova);
            s.set(JAVA_LONG, U + 16, length);
            mock.run(s, "ACCESS_PAGES", "access_fd=" + fd + ", iova=" + Ioas.hex(iova) + ", length=" + Ioas.hex(length));
            return s.get(JAVA_INT, U + 4);
        } finally {
            exit();
        }
    }

    /** DESTROY_ACCESS_PAGES. */
    public void unpin(int pinId) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES(), fd);
            s.set(JAVA_INT, U, pinId);
            mock.run(s, "DESTROY_ACCESS_PAGES", "access_fd=" + fd + ", pin=" + pinId);
        } finally {
            exit();
        }
    }

    /** ACCESS_REPLACE_IOAS: moves the access to another IOAS (dropping its pins). */
    public void replaceIoas(Ioas ioas) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS(), fd);
            s.set(JAVA_INT, U, ioas.id());
            mock.run(s, "ACCESS_REPLACE_IOAS", "access_fd=" + fd + ", ioas=" + ioas.id());
        } finally {
            exit();
        }
    }

    @Override
    void release() {
        releaseFds();
    }

    @Override
    void releaseFds() {
        iommufd.raw().closeFd(fd);
    }

    @Override
    String describe() {
        return "access_fd=" + fd;
    }
}
