/** The iommufd4j command. */
module io.github.iommufd4j.cli {
    requires io.github.iommufd4j.api;
    requires info.picocli;
    requires java.logging;
    exports io.github.iommufd4j.cli;
    // picocli sets the annotated options by reflection.
    opens io.github.iommufd4j.cli to info.picocli;
}
