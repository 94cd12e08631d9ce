package io.github.iommufd4j;

import io.github.iommufd4j.internal.JfrSwitch;
import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.MemoryAddress;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** JFR: a successful IOMMU_IOAS_MAP or IOMMU_IOAS_MAP_FILE (duration: the whole typed call). */
@Name("io.github.iommufd4j.IoasMap")
@Label("iommufd IOAS Map")
@Category({"iommufd4j"})
@Description("Memory or a file range mapped into an IOAS")
@StackTrace(false)
final class IoasMapEvent extends Event {
    @Label("IOAS id")
    int ioas;
    @Label("IOVA")
    @MemoryAddress
    long iova;
    @Label("Length")
    @DataAmount
    long length;
    @Label("Access")
    String access;
    @Label("File-backed")
    @Description("Mapped by IOMMU_IOAS_MAP_FILE")
    boolean file;

    private static final JfrSwitch SWITCH = new JfrSwitch(IoasMapEvent.class);

    /** A started event if a recording wants it, else null: no object per map otherwise. */
    static IoasMapEvent started() {
        return SWITCH.started(IoasMapEvent::new);
    }

    static void commit(IoasMapEvent e, int ioas, long iova, long length, Access access, boolean file) {
        e.end();
        if (!e.shouldCommit()) return;
        e.ioas = ioas;
        e.iova = iova;
        e.length = length;
        e.access = access.name();
        e.file = file;
        e.commit();
    }
}
