package io.github.iommufd4j.internal.software;

import java.util.HashMap;
import java.util.Map;

/**
 * A mock vIOMMU (7.3 {@code viommu.c}, {@code selftest.c: mock_viommu_*}): holds its nesting
 * parent; vDEVICEs by virtual id, one event queue per type, and up to {@link #HW_QUEUE_MAX} HW
 * queues, each of which holds it (docs/kernel-behaviour.md §2.4).
 */
final class SwViommu extends SwObject {
    static final int HW_QUEUE_MAX = 2;

    final SwHwpt parent;
    final Map<Long, SwVdevice> vdevs = new HashMap<>();
    final Map<Integer, SwVeventq> veventqs = new HashMap<>();
    final SwHwQueue[] hwQueues = new SwHwQueue[HW_QUEUE_MAX];

    /** The mock's mmap-able region (two pages, {@code in_data} in its first word) and its offset; null/0 without data. */
    java.lang.foreign.MemorySegment region;
    long mmapOffset;
    /** Live mmaps of the region (each holds the vIOMMU). */
    int mapped;

    SwViommu(int id, SwHwpt parent) {
        super(id);
        this.parent = parent;
    }

    @Override
    Kind kind() {
        return Kind.VIOMMU;
    }
}
