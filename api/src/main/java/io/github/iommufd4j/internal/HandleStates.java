package io.github.iommufd4j.internal;

import java.util.function.Function;

/**
 * The use/close state of a handle, for the parts of this module outside the handles' package (the
 * fault pump holds the queues it serves, {@link HandleState.Holder}). The handles' base class
 * registers the accessor when it is loaded, which is before any handle exists.
 */
public final class HandleStates {
    private static volatile Function<Object, HandleState> of;

    private HandleStates() {}

    /** Called once, by the handles' base class. */
    public static void register(Function<Object, HandleState> accessor) {
        of = accessor;
    }

    /** The state of {@code handle} (a FaultQueue, EventQueue or another handle). */
    public static HandleState of(Object handle) {
        return of.apply(handle);
    }
}
