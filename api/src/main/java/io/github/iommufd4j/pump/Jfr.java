package io.github.iommufd4j.pump;

/**
 * Whether the JDK Flight Recorder module is in this runtime. The api module only
 * {@code requires static jdk.jfr}, so a jlink image may leave it out: the pump then never touches
 * {@link FaultBatchEvent} (loading it would fail, its superclass being {@code jdk.jfr.Event}).
 */
final class Jfr {
    private Jfr() {}

    static final boolean PRESENT = ModuleLayer.boot().findModule("jdk.jfr").isPresent();
}
