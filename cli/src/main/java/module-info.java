/** The iommufd4j command. */
module io.github.iommufd4j.cli {
    requires io.github.iommufd4j.api;
    exports io.github.iommufd4j.cli;
}
