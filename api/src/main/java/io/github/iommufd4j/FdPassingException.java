package io.github.iommufd4j;

import io.github.iommufd4j.bindings.Errno;

/**
 * A message with file descriptors ({@link FdChannel}) did not arrive as expected. Every
 * descriptor the message carried has been closed when this is thrown. The {@link #reason()} says
 * what went wrong; {@link #errno()} is the nearest errno (the kernel returned none).
 */
public final class FdPassingException extends IommufdException {
    /** What went wrong. */
    public enum Reason {
        /** The peer closed the connection (or its process ended) before a message came: ECONNRESET. */
        PEER_CLOSED("ECONNRESET", "the peer closed the connection"),
        /** No message within the timeout: ETIMEDOUT. */
        TIMED_OUT("ETIMEDOUT", "no message within the timeout"),
        /** The kernel set MSG_CTRUNC: more descriptors came than there was room for: EMSGSIZE. */
        CONTROL_TRUNCATED("EMSGSIZE", "control message truncated (MSG_CTRUNC): more descriptors than room for"),
        /** The kernel set MSG_TRUNC: the payload was longer than the buffer: EMSGSIZE. */
        PAYLOAD_TRUNCATED("EMSGSIZE", "payload truncated (MSG_TRUNC)"),
        /** A different number of descriptors came than expected: EBADMSG. */
        WRONG_FD_COUNT("EBADMSG", "unexpected number of descriptors"),
        /** The payload is not what the protocol expects: EBADMSG. */
        BAD_PAYLOAD("EBADMSG", "unexpected payload");

        final int errno;
        final String text;

        Reason(String errno, String text) {
            this.errno = Errno.value(errno);
            this.text = text;
        }
    }

    /** What went wrong. */
    private final Reason reason;

    /**
     * An exception whose errno is the reason's nearest errno.
     *
     * @param operation the operation, e.g. {@code recvmsg}
     * @param arguments the socket and what was expected
     * @param reason    what went wrong
     * @param detail    more detail, or empty
     */
    public FdPassingException(String operation, String arguments, Reason reason, String detail) {
        super(operation, arguments, reason.errno, reason.text + (detail.isEmpty() ? "" : ": " + detail)
                + " (" + Errno.name(reason.errno) + ")");
        this.reason = reason;
    }

    /**
     * What went wrong.
     *
     * @return the reason
     */
    public Reason reason() {
        return reason;
    }
}
