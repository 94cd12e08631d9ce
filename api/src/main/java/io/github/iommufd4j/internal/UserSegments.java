package io.github.iommufd4j.internal;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/** Checks on user memory handed to the kernel by address. */
public final class UserSegments {
    private UserSegments() {}

    /**
     * Refuses null and segments whose arena is closed: the kernel would take a freed address as
     * it is (without a domain a MAP of it even succeeds), so this must be caught before the call.
     */
    public static MemorySegment requireLive(MemorySegment s, String what) {
        Objects.requireNonNull(s, what);
        if (!s.scope().isAlive()) throw new IllegalStateException(what + ": the segment's arena is closed");
        return s;
    }

    /** {@link #requireLive} for memory to be mapped, which must also be native (the kernel takes its address). */
    public static MemorySegment requireMappable(MemorySegment s, String what) {
        requireLive(s, what);
        if (!s.isNative()) throw new IllegalArgumentException("a mapping needs native memory, not a heap segment");
        return s;
    }
}
