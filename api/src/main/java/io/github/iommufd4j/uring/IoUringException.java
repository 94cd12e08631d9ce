package io.github.iommufd4j.uring;

import io.github.iommufd4j.bindings.Errno;

import java.io.IOException;

/**
 * An io_uring call failed. Carries the errno and the operation, e.g.
 * {@code io_uring_setup: ENOSYS (Function not implemented)}, optionally followed by an
 * explanation ({@code ...: kernel.io_uring_disabled=2: io_uring is disabled for all processes}).
 */
public class IoUringException extends IOException {
    private final int errno;
    private final String operation;

    /**
     * @param operation the system call or opcode, e.g. {@code io_uring_enter} or {@code IORING_OP_READ}
     * @param errno     the errno, either sign
     */
    public IoUringException(String operation, int errno) {
        this(operation, errno, null);
    }

    /**
     * @param operation the system call or opcode
     * @param errno     the errno, either sign
     * @param detail    an explanation appended to the message, or null
     */
    public IoUringException(String operation, int errno, String detail) {
        super(operation + ": " + Errno.name(errno) + " (" + Errno.describe(errno) + ")"
                + (detail == null ? "" : ": " + detail));
        this.errno = Math.abs(errno);
        this.operation = operation;
    }

    /** The positive errno value, e.g. 38 for ENOSYS. */
    public int errno() {
        return errno;
    }

    /** The symbolic errno name, e.g. {@code ENOSYS}. */
    public String errnoName() {
        return Errno.name(errno);
    }

    /** The operation that failed, e.g. {@code io_uring_setup} or {@code IORING_OP_READ}. */
    public String operation() {
        return operation;
    }
}
