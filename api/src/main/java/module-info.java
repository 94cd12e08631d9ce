/**
 * The typed iommufd API: handles for every iommufd object, errors with errno, the native and
 * software backends, io_uring and the fault pump.
 */
module io.github.iommufd4j.api {
    requires transitive io.github.iommufd4j.bindings;
    requires static jdk.jfr; // JFR events only when the runtime has the module (internal.Jfr)
    exports io.github.iommufd4j;
    exports io.github.iommufd4j.pump;
    // The ring is internal: the pump runs on it; the cli's fault-modes measures raw ring reads.
    exports io.github.iommufd4j.internal.uring to io.github.iommufd4j.cli;
}
