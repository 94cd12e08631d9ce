package io.github.iommufd4j.pump;

import io.github.iommufd4j.internal.JfrSwitch;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** JFR: one batch of fault records read from a queue and handled (duration = read to responses written). */
@Name("io.github.iommufd4j.FaultBatch")
@Label("iommufd Fault Batch")
@Category({"iommufd4j"})
@Description("A batch of I/O page fault records read from a fault queue, handled and answered")
@StackTrace(false)
final class FaultBatchEvent extends Event {
    @Label("Fault queue id")
    int queue;
    @Label("Records")
    int records;
    @Label("Groups")
    int groups;

    private static final JfrSwitch SWITCH = new JfrSwitch(FaultBatchEvent.class);

    /** A started event if a JFR recording wants it, else null: no object per batch otherwise. */
    static FaultBatchEvent started() {
        return SWITCH.started(FaultBatchEvent::new);
    }

    static void commit(FaultBatchEvent e, int queue, int records, int groups) {
        if (!e.shouldCommit()) return;
        e.queue = queue;
        e.records = records;
        e.groups = groups;
        e.commit();
    }
}
