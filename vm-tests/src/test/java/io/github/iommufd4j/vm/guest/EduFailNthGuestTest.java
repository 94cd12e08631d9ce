package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.reliability.FailNth;
import io.github.iommufd4j.reliability.FailNthSweep;
import io.github.iommufd4j.reliability.FaultStackFilter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fail-nth sweep over attaching the edu device's VFIO cdev to an IOAS, mapping memory for its DMA
 * (pages pinned into the vIOMMU's domain) and detaching. Each injected kernel allocation failure
 * must end in a typed error, leaving no object and no fd behind.
 *
 * <p>The bind (VFIO_DEVICE_BIND_IOMMUFD, which enables the PCI device) runs before the armed
 * window: a failure injected there goes down an ACPI error path (AE_NO_MEMORY evaluating _PRT)
 * after which the 7.3 guest kernel oopses in acpi_ut_update_object_reference when the cdev is
 * closed. That is a kernel bug outside iommufd; the sweep covers what follows the bind.
 * {@link #vfioBindToCloseInIommufd()} sweeps the bind too, with the injection confined to
 * allocations made on iommufd's behalf ({@link FaultStackFilter}).
 */
@io.github.iommufd4j.junit.RequiresIommufd(vfioDevice = "/dev/vfio/devices/vfio0")
class EduFailNthGuestTest {
    @Test
    void vfioAttachMapAndDetach() throws Exception {
        String why = FailNth.unavailableReason();
        assumeTrue(why == null, why);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment ram = arena.allocate(4 * EduDmaGuestTest.PAGE, EduDmaGuestTest.PAGE);
            ram.fill((byte) 1);
            VfioDevice[] edu = new VfioDevice[1];
            FailNthSweep.sweep("VFIO attach/map/detach (edu)", (fd, made) -> {
                edu[0] = VfioDevice.open(fd, EduDmaGuestTest.CDEV);
                made.add(edu[0]);
                return 0;
            }, (fd, made) -> {
                Ioas ioas = fd.allocIoas();
                made.add(0, ioas); // closed after the device, which may still be attached to it
                int hwpt = edu[0].attach(ioas.id());
                ioas.map(ram, EduDmaGuestTest.IOVA, Access.READ_WRITE);
                edu[0].detach();
                edu[0].attach(ioas.id()); // again, with the pages already pinned in the IOAS
                edu[0].detach();
                return hwpt > 0 ? 1 : 0;
            });
        }
    }

    /**
     * The whole life of the device in the armed window: open the cdev, bind, attach to a new IOAS,
     * map, detach, close the cdev and the IOAS; only allocations with a caller in iommufd's text fail.
     *
     * <p>Except under __iommu_release_dma_ownership: the cdev's release (iommufd_device_unbind ->
     * iommu_device_release_dma_owner) gives the group back its default domain through the iommu
     * core's must-succeed __iommu_group_set_domain_nofail, and intel-iommu allocates there
     * (domain_attach_iommu, cache_tag_assign); a failure injected there is absorbed but the 6.12 and
     * 7.3 kernels WARN in __iommu_release_dma_ownership (-ENOMEM from attaching the default domain).
     */
    @Test
    void vfioBindToCloseInIommufd() throws Exception {
        String why = FailNth.unavailableReason();
        if (why == null) why = FaultStackFilter.unavailableReason();
        assumeTrue(why == null, why);
        FaultStackFilter.TextRange text = FaultStackFilter.iommufdText();
        FaultStackFilter.TextRange nofail = FaultStackFilter.function("__iommu_release_dma_ownership");
        System.out.println("[reliability] " + text + ": " + text.foreign() + "; except " + nofail);
        try (Arena arena = Arena.ofShared(); FaultStackFilter confined = FaultStackFilter.confine(text, nofail)) {
            MemorySegment ram = arena.allocate(4 * EduDmaGuestTest.PAGE, EduDmaGuestTest.PAGE);
            ram.fill((byte) 1);
            FailNthSweep.Result r = FailNthSweep.sweep("VFIO bind/attach/map/detach/close (edu, in iommufd)", (fd, made) -> {
                VfioDevice edu = VfioDevice.open(fd, EduDmaGuestTest.CDEV);
                made.add(edu);
                Ioas ioas = fd.allocIoas();
                made.add(0, ioas); // closed after the device, which may still be attached to it
                int hwpt = edu.attach(ioas.id());
                ioas.map(ram, EduDmaGuestTest.IOVA, Access.READ_WRITE);
                edu.detach();
                edu.close(); // the cdev's release unbinds the device from iommufd
                ioas.close();
                return hwpt > 0 ? 1 : 0;
            });
            // Something was injected: the range holds the allocating code (bind alone allocates in iommufd).
            assertTrue(r.steps() > 1 && !r.errnos().isEmpty(), "nothing failed in iommufd's text: " + r);
        }
    }
}
