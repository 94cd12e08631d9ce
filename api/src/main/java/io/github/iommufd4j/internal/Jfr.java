package io.github.iommufd4j.internal;

/**
 * Whether the JDK Flight Recorder module is in this runtime: the one guard in front of every JFR
 * event of the library. The api module only {@code requires static jdk.jfr}, so a jlink image may
 * leave it out; the library then never touches an event class (loading one would fail, its
 * superclass being {@code jdk.jfr.Event}). Call sites read
 * {@code Jfr.PRESENT ? SomeEvent.started() : null}: a constant the JIT folds, so the check costs
 * nothing when JFR is absent, and the event's own {@link JfrSwitch} decides when it is present.
 */
public final class Jfr {
    private Jfr() {}

    /** True when {@code jdk.jfr} is in the boot layer (then the api module reads it). */
    public static final boolean PRESENT = ModuleLayer.boot().findModule("jdk.jfr").isPresent();
}
