package io.github.iommufd4j;

import io.github.iommufd4j.internal.JfrSwitch;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JFR: a kernel call of a typed method failed with an errno (the {@link IommufdException} it
 * threw). Recorded in {@link KernelCall}, the one place every failure of a kernel call is built;
 * probes that expect an errno (e.g. {@link Iommufd#supports}) are not failures. With a stack
 * trace: which caller it was matters more than the cost, failures being rare.
 */
@Name("io.github.iommufd4j.IoctlFailure")
@Label("iommufd Call Failed")
@Category({"iommufd4j"})
@Description("A kernel call of iommufd4j (an iommufd ioctl, or a read, write or mmap of one of its objects) failed with an errno")
final class IoctlFailureEvent extends Event {
    @Label("Operation")
    @Description("The kernel command or system call, e.g. IOMMU_IOAS_MAP")
    String operation;
    @Label("Errno")
    int errno;
    @Label("Errno name")
    String errnoName;
    @Label("Object ids and arguments")
    @Description("As in the exception's message, e.g. ioas=3, iova=0x1000, length=0x2000")
    String arguments;

    private static final JfrSwitch SWITCH = new JfrSwitch(IoctlFailureEvent.class);

    /** Records {@code e} if a recording wants it. */
    static void record(IommufdException e) {
        if (!SWITCH.on()) return;
        IoctlFailureEvent event = new IoctlFailureEvent();
        event.operation = e.operation();
        event.errno = e.errno();
        event.errnoName = e.errnoName();
        event.arguments = e.arguments();
        event.commit();
    }
}
