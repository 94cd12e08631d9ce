package io.github.iommufd4j.internal;

/**
 * Whether the JDK Flight Recorder module is in this runtime: the one guard in front of every JFR
 * event of the library. The api module only {@code requires static jdk.jfr}, so a jlink image may
 * leave it out; the library then never touches an event class (loading one would fail, its
 * superclass being {@code jdk.jfr.Event}). Call sites read
 * {@code Jfr.PRESENT ? SomeEvent.started() : null}: a constant the JIT folds, so the check costs
 * nothing when JFR is absent, and the event's own {@link JfrSwitch} decides when it is present.
 * Hot paths whose events start no recording of their own read {@link #on()} instead: loading the
 * first event class initializes JFR's metadata (about 370 classes, 0.7 G instructions in a guest
 * under QEMU's instruction counting, see README "Start-up and warm-up"), which a JVM without a
 * recording need not pay on its first map.
 */
public final class Jfr {
    private Jfr() {}

    /** True when {@code jdk.jfr} is in the boot layer (then the api module reads it). */
    public static final boolean PRESENT = ModuleLayer.boot().findModule("jdk.jfr").isPresent();

    /**
     * Whether an event could be wanted now: JFR is present and initialized (a recording was
     * created in this JVM). Until then the event classes stay unloaded; one loaded later, when a
     * recording exists, is registered with it as usual.
     *
     * @return false while no recording was ever created
     */
    public static boolean on() {
        return PRESENT && jdk.jfr.FlightRecorder.isInitialized();
    }
}
