package io.github.iommufd4j;

import io.github.iommufd4j.internal.JfrSwitch;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** JFR: a successful IOMMU_HWPT_INVALIDATE of a nested page table or a vIOMMU (duration: the typed call). */
@Name("io.github.iommufd4j.Invalidate")
@Label("iommufd Invalidate")
@Category({"iommufd4j"})
@Description("Cache invalidation entries handed to a nested page table (hwpt) or a vIOMMU")
@StackTrace(false)
final class InvalidateEvent extends Event {
    @Label("Object")
    @Description("hwpt or viommu")
    String object;
    @Label("Object id")
    int id;
    @Label("Data type")
    @Description("The entries' IOMMU_HWPT_INVALIDATE_DATA_* type")
    int dataType;
    @Label("Entry length")
    int entryLength;
    @Label("Entries")
    @Description("Entries handed to the kernel")
    int entries;
    @Label("Handled")
    @Description("Entries the kernel handled")
    int handled;

    private static final JfrSwitch SWITCH = new JfrSwitch(InvalidateEvent.class);

    /** A started event if a recording wants it, else null. */
    static InvalidateEvent started() {
        return SWITCH.started(InvalidateEvent::new);
    }

    static void commit(InvalidateEvent e, String object, int id, int dataType, int entryLength, int entries, int handled) {
        e.end();
        if (!e.shouldCommit()) return;
        e.object = object;
        e.id = id;
        e.dataType = dataType;
        e.entryLength = entryLength;
        e.entries = entries;
        e.handled = handled;
        e.commit();
    }
}
