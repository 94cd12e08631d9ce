package io.github.iommufd4j.internal.software;

/** An object in the iommufd's ID space (docs/kernel-behaviour.md §2). */
abstract class SwObject {
    enum Kind { IOAS, HWPT_PAGING, HWPT_NESTED, DEVICE, ACCESS, FAULT, SELFTEST, VIOMMU, VDEVICE, VEVENTQ, HW_QUEUE }

    final int id;
    /**
     * References other objects hold on this one: the kernel's {@code users} count minus the
     * ID table's own. DESTROY needs it to be 0 (docs/kernel-behaviour.md §2.3, §2.4).
     */
    int users;

    SwObject(int id) {
        this.id = id;
    }

    abstract Kind kind();
}
