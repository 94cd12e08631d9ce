package io.github.iommufd4j.internal.uring;

/**
 * Receives completions from {@link IoUring#processCompletions(CompletionHandler)}.
 *
 * <p>The three values of a completion queue entry are passed as primitives, so delivering a
 * completion allocates nothing. Keep one handler instance and pass it on every call (a lambda
 * that captures locals, created anew per call, would allocate).
 */
@FunctionalInterface
public interface CompletionHandler {
    /**
     * One completion.
     *
     * @param userData the {@code user_data} given when the operation was submitted
     * @param res      the result: a non-negative value on success (bytes transferred, poll mask,
     *                 ...), or {@code -errno} on failure (e.g. {@code -ECANCELED})
     * @param flags    the {@code IORING_CQE_F_*} flags; {@link IoUring#CQE_F_MORE} means that a
     *                 multishot operation stays armed and more completions will follow
     */
    void complete(long userData, int res, int flags);
}
