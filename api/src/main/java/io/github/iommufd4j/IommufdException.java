package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;

import java.io.IOException;

/**
 * An iommufd operation failed. Carries the errno (number and symbolic name), the operation (the
 * kernel command, e.g. {@code IOMMU_IOAS_MAP}) and the ids and arguments involved, e.g.
 * {@code IOMMU_IOAS_MAP(ioas=3, iova=0x1000, length=0x2000): EEXIST (File exists)}.
 */
public class IommufdException extends IOException {
    /** The positive errno value. */
    private final int errno;
    /** The operation that failed. */
    private final String operation;
    /** The ids and arguments of the operation. */
    private final String arguments;

    /**
     * An exception whose message ends with the errno's name and description, e.g.
     * {@code IOMMU_IOAS_MAP(ioas=3, iova=0x1000): EEXIST (File exists)}.
     *
     * @param operation the operation, e.g. {@code IOMMU_IOAS_MAP}
     * @param arguments the ids and arguments, e.g. {@code ioas=3, iova=0x1000}
     * @param errno     the errno (its sign is ignored)
     */
    public IommufdException(String operation, String arguments, int errno) {
        this(operation, arguments, errno, Errno.name(errno) + " (" + Errno.describe(errno) + ")");
    }

    /**
     * An exception with its own reason text after the operation and arguments.
     *
     * @param operation the operation
     * @param arguments the ids and arguments
     * @param errno     the errno (its sign is ignored)
     * @param reason    what the message says after {@code operation(arguments): }
     */
    protected IommufdException(String operation, String arguments, int errno, String reason) {
        super(operation + "(" + arguments + "): " + reason);
        this.errno = Math.abs(errno);
        this.operation = operation;
        this.arguments = arguments;
    }

    /** A handle that was already closed: no kernel call was made. */
    static IommufdException closed(String operation, String arguments) {
        return new IommufdException(operation, arguments, Errno.value("EBADF"), "handle is closed");
    }

    /**
     * The errno, to compare with the values the kernel documents.
     *
     * @return the positive errno value, e.g. 17 for EEXIST
     */
    public int errno() {
        return errno;
    }

    /**
     * The errno's symbolic name.
     *
     * @return e.g. {@code EEXIST}
     */
    public String errnoName() {
        return Errno.name(errno);
    }

    /**
     * The operation that failed: the kernel command, or a system call on one of our fds.
     *
     * @return e.g. {@code IOMMU_IOAS_MAP} or {@code read(fault fd)}
     */
    public String operation() {
        return operation;
    }

    /**
     * The ids and arguments of the failed operation, as the message shows them.
     *
     * @return e.g. {@code ioas=3, iova=0x1000}
     */
    public String arguments() {
        return arguments;
    }
}
