package io.github.iommufd4j.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread memory for ioctl argument structs, so hot paths (map, unmap, fault read and
 * respond) allocate nothing per call. The kernel reads a struct's size from its first field, so
 * the whole buffer can be passed.
 */
public final class Scratch {
    private Scratch() {}

    public static final long SIZE = 512;
    private static final MemorySegment ZEROS = Arena.global().allocate(SIZE);
    private static final ThreadLocal<MemorySegment> BUFFER =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(SIZE, 16));

    /** This thread's buffer with its first {@code size} bytes zeroed. */
    public static MemorySegment struct(long size) {
        MemorySegment s = BUFFER.get();
        MemorySegment.copy(ZEROS, 0, s, 0, size);
        return s;
    }
}
