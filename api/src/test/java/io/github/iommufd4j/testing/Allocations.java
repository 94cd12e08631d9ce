package io.github.iommufd4j.testing;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Bytes allocated by a thread (com.sun.management.ThreadMXBean), for the allocation tests.
 * com.sun.management lives in jdk.management, which the api module does not read: it is reached
 * reflectively (core reflection and publicLookup do not need readability).
 */
public final class Allocations {
    private Allocations() {}

    private static final Object BEAN;
    private static final MethodHandle CURRENT, OF_THREAD;
    static {
        try {
            BEAN = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
            Class<?> sunBean = Class.forName("com.sun.management.ThreadMXBean");
            CURRENT = MethodHandles.publicLookup().findVirtual(sunBean, "getCurrentThreadAllocatedBytes",
                    MethodType.methodType(long.class));
            OF_THREAD = MethodHandles.publicLookup().findVirtual(sunBean, "getThreadAllocatedBytes",
                    MethodType.methodType(long.class, long.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Bytes allocated so far by the calling thread. */
    public static long currentThread() {
        try {
            return (long) CURRENT.invoke(BEAN);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Bytes allocated so far by the thread with this id. */
    public static long ofThread(long threadId) {
        try {
            return (long) OF_THREAD.invoke(BEAN, threadId);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
