/** The typed iommufd API: handles for every iommufd object, errors with errno, two backends. */
module io.github.iommufd4j.api {
    requires transitive io.github.iommufd4j.bindings;
    exports io.github.iommufd4j;
}
