package io.github.iommufd4j.internal.software;

/**
 * The selftest object of a mock device ("stdev", docs/kernel-behaviour.md §2.1): destroying it
 * detaches, unbinds and frees the device.
 */
final class SwSelftest extends SwObject {
    final SwDevice device;

    SwSelftest(int id, SwDevice device) {
        super(id);
        this.device = device;
    }

    @Override
    Kind kind() {
        return Kind.SELFTEST;
    }
}
