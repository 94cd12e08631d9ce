package io.github.iommufd4j;

/** Which iommufd an {@link Iommufd} talks to. */
public enum Backend {
    /** The kernel's when {@code /dev/iommu} can be opened, the software one otherwise. */
    AUTO,
    /** The kernel's {@code /dev/iommu}. */
    NATIVE,
    /** The in-process iommufd with the kernel's ABI and errno (no privileges, no hardware). */
    SOFTWARE
}
