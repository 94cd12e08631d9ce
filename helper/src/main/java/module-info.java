/**
 * The privileged helper of a sandboxed VMM ({@link io.github.iommufd4j.helper.Helper}) and the
 * VMM's side of its hand-over ({@link io.github.iommufd4j.helper.Handoff}).
 */
module io.github.iommufd4j.helper {
    requires transitive io.github.iommufd4j.api;
    exports io.github.iommufd4j.helper;
}
