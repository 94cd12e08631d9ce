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

/** JFR: a successful IOMMU_IOAS_UNMAP (duration: the whole typed call). */
@Name("io.github.iommufd4j.IoasUnmap")
@Label("iommufd IOAS Unmap")
@Category({"iommufd4j"})
@Description("The mappings inside a range of an IOAS unmapped")
@StackTrace(false)
final class IoasUnmapEvent extends Event {
    @Label("IOAS id")
    int ioas;
    @Label("IOVA")
    @MemoryAddress
    long iova;
    @Label("Length")
    @Description("The range asked for (unmap all: 0xffffffffffffffff from IOVA 0)")
    @DataAmount
    long length;
    @Label("Unmapped")
    @Description("Bytes the kernel unmapped")
    @DataAmount
    long unmapped;

    private static final JfrSwitch SWITCH = new JfrSwitch(IoasUnmapEvent.class);

    /** A started event if a recording wants it, else null: no object per unmap otherwise. */
    static IoasUnmapEvent started() {
        return SWITCH.started(IoasUnmapEvent::new);
    }

    static void commit(IoasUnmapEvent e, int ioas, long iova, long length, long unmapped) {
        e.end();
        if (!e.shouldCommit()) return;
        e.ioas = ioas;
        e.iova = iova;
        e.length = length;
        e.unmapped = unmapped;
        e.commit();
    }
}
