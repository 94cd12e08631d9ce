/** A program that uses iommufd4j from the module path. */
module com.example.modulepath {
    requires io.github.iommufd4j.api;
}
