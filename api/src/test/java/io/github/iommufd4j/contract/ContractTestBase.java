package io.github.iommufd4j.contract;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Command;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Base of the contract suite: the same tests run against whichever backend
 * {@code -Diommufd4j.backend=AUTO|NATIVE|SOFTWARE} selects (AUTO: the kernel's when
 * {@code /dev/iommu} opens, e.g. in the VM tests' guest; the software backend otherwise).
 * Expected errno values are the kernel's (docs/kernel-behaviour.md).
 */
abstract class ContractTestBase {
    static final long PAGE = 4096;
    static final long MB = 1 << 20;
    Iommufd fd;
    MockDriver mock;
    Arena arena;

    @BeforeEach
    void open() throws IommufdException {
        fd = Iommufd.open();
        mock = fd.mock();
        arena = Arena.ofShared();
    }

    @AfterEach
    void close() {
        fd.close();
        arena.close();
    }

    void requireMock() {
        assumeTrue(mock.isPresent(), "kernel without CONFIG_IOMMUFD_TEST");
    }

    /** Native memory aligned like a huge page, so kernel IOVA choices are predictable. */
    MemorySegment buffer(long size) {
        return arena.allocate(size, 2 * MB);
    }

    /**
     * This test's iommufd if it has 6.12 behaviour (a kernel without the Linux 6.13+ commands),
     * or on the software backend reproducing 7.3 a new one made to behave as 6.12 (the caller
     * closes it); skips the test on a newer kernel.
     */
    Iommufd kernelBefore613() throws Exception {
        Iommufd old = fd;
        if (fd.supports(Command.VIOMMU_ALLOC)) {
            assumeTrue(fd.backend() == Backend.SOFTWARE, "a kernel with the Linux 7.x commands");
            String before = System.getProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY);
            System.setProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY, "6.12");
            try {
                old = Iommufd.open(Backend.SOFTWARE);
            } finally {
                if (before == null) System.clearProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY);
                else System.setProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY, before);
            }
        }
        return old;
    }

    interface Op {
        void run() throws Exception;
    }

    /** Asserts the operation fails with exactly this errno (e.g. "EEXIST") and returns the exception. */
    static IommufdException assertErrno(String errno, Op op) {
        IommufdException e = assertThrows(IommufdException.class, op::run);
        assertEquals(errno, e.errnoName(), e.getMessage());
        return e;
    }
}
