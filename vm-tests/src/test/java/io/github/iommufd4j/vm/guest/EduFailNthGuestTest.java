package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.reliability.FailNth;
import io.github.iommufd4j.reliability.FailNthSweep;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fail-nth sweep over binding the edu device's VFIO cdev to an iommufd, attaching it to an IOAS
 * and mapping memory for its DMA (pages pinned into the vIOMMU's domain). Each injected kernel
 * allocation failure must end in a typed error, leaving no object and no fd behind.
 */
@io.github.iommufd4j.vm.RequiresIommufd(vfioDevice = "/dev/vfio/devices/vfio0")
class EduFailNthGuestTest {
    @Test
    void vfioBindAttachAndMap() throws Exception {
        String why = FailNth.unavailableReason();
        assumeTrue(why == null, why);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment ram = arena.allocate(4 * EduDmaGuestTest.PAGE, EduDmaGuestTest.PAGE);
            ram.fill((byte) 1);
            FailNthSweep.sweep("VFIO bind/attach (edu)", (fd, made) -> {
                Ioas ioas = fd.allocIoas();
                made.add(ioas);
                VfioDevice edu = VfioDevice.open(fd, EduDmaGuestTest.CDEV);
                made.add(edu);
                int hwpt = edu.attach(ioas.id());
                ioas.map(ram, EduDmaGuestTest.IOVA, Access.READ_WRITE);
                edu.detach();
                return hwpt > 0 ? 1 : 0;
            });
        }
    }
}
