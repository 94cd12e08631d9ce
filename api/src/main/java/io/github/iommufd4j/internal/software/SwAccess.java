package io.github.iommufd4j.internal.software;

import java.util.ArrayList;
import java.util.List;

/**
 * A mock in-kernel access (TEST CREATE_ACCESS): reads and writes an IOAS by IOVA and, with
 * NEEDS_PIN_PAGES, pins ranges (ACCESS_PAGES items). Its ID is hidden and it cannot be destroyed
 * (docs/kernel-behaviour.md §2.3: {@link #users} starts at 1); it goes away when its fd (an
 * eventfd used as a token) is closed.
 */
final class SwAccess extends SwObject {
    /** A pinned range: the item's IOVA range and the pages it pins as {pages, va, length} triplets. */
    record Item(int id, long iova, long length, long[] pins) {}

    final int fd;
    final boolean needsPin;
    SwIoas ioas;
    final List<Item> items = new ArrayList<>();
    /** ACCESS_PAGES ids: a per-access counter from 0, never reused. */
    int nextItemId;

    SwAccess(int id, int fd, boolean needsPin) {
        super(id);
        this.fd = fd;
        this.needsPin = needsPin;
        this.users = 1;
    }

    @Override
    Kind kind() {
        return Kind.ACCESS;
    }

    /** {@code iopt_add_access}: a pinning access needs CPU-page alignment. */
    long alignment() {
        return needsPin ? U64.PAGE_SIZE : 1;
    }

    /** The mock's unmap callback: unpins and forgets every item overlapping {@code [first, last]}. */
    void unmapNotify(long first, long last) {
        items.removeIf(i -> U64.intersects(i.iova(), i.iova() + i.length() - 1, first, last));
    }
}
