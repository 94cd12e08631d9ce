package io.github.iommufd4j.internal.uring;

import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.bindings.Errno;

/**
 * An io_uring call failed: an {@link IommufdException} whose operation is the io_uring system
 * call, e.g. {@code io_uring_setup(entries=8): ENOSYS (Function not implemented)}, optionally
 * followed by an explanation ({@code ...: kernel.io_uring_disabled=2: io_uring is disabled for
 * all processes}).
 */
public final class IoUringException extends IommufdException {
    /**
     * @param operation the system call, e.g. {@code io_uring_enter}
     * @param arguments what it was called on, e.g. {@code ring=12}
     * @param errno     the errno, either sign
     * @param detail    an explanation appended to the message, or null
     */
    public IoUringException(String operation, String arguments, int errno, String detail) {
        super(operation, arguments, errno, Errno.name(errno) + " (" + Errno.describe(errno) + ")"
                + (detail == null ? "" : ": " + detail));
    }
}
