package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;

import java.io.IOException;

/**
 * An iommufd operation failed. Carries the errno (number and symbolic name), the operation (the
 * kernel command, e.g. {@code IOMMU_IOAS_MAP}) and the ids and arguments involved, e.g.
 * {@code IOMMU_IOAS_MAP(ioas=3, iova=0x1000, length=0x2000): EEXIST (File exists)}.
 */
public class IommufdException extends IOException {
    private final int errno;
    private final String operation;
    private final String arguments;

    public IommufdException(String operation, String arguments, int errno) {
        this(operation, arguments, errno, Errno.name(errno) + " (" + Errno.describe(errno) + ")");
    }

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

    /** The positive errno value, e.g. 17 for EEXIST. */
    public int errno() {
        return errno;
    }

    /** The symbolic errno name, e.g. {@code EEXIST}. */
    public String errnoName() {
        return Errno.name(errno);
    }

    /** The operation, e.g. {@code IOMMU_IOAS_MAP}. */
    public String operation() {
        return operation;
    }

    /** The ids and arguments, e.g. {@code ioas=3, iova=0x1000}. */
    public String arguments() {
        return arguments;
    }
}
