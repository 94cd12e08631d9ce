/**
 * Generated FFM bindings over the kernel UAPI (iommufd, VFIO, io_uring, the iommufd mock
 * driver) and a small errno-capturing libc layer.
 */
module io.github.iommufd4j.bindings {
    exports io.github.iommufd4j.bindings;
    exports io.github.iommufd4j.bindings.uapi;
}
