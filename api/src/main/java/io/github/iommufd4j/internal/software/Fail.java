package io.github.iommufd4j.internal.software;

/**
 * A kernel error return raised deep inside a command (a lookup, a pin, a reservation); the
 * dispatcher turns it into {@code -errno}. Carries no stack trace: it is control flow.
 */
final class Fail extends RuntimeException {
    final int errno;

    Fail(int errno) {
        super(null, null, false, false);
        this.errno = errno;
    }
}
