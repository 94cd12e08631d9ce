package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.helper.Handoff;
import io.github.iommufd4j.testing.OpenFds;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.github.iommufd4j.vm.guest.EduDmaGuestTest.EDU_BUFFER;
import static io.github.iommufd4j.vm.guest.EduDmaGuestTest.IOVA;
import static io.github.iommufd4j.vm.guest.EduDmaGuestTest.PAGE;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The sandboxed VMM of {@link SandboxedVmmGuestTest}, a process of its own under another uid
 * without access to {@code /dev/iommu} or the cdev: receives both from the helper, binds the
 * device, adopts the helper's IOAS, attaches, maps and runs an edu DMA round trip, closes
 * everything and checks that its descriptors are back to where they started. Prints what it saw;
 * exit status 0 when all held.
 *
 * <p>{@code SandboxedVmm SOCKET CDEV}
 */
public final class SandboxedVmm {
    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        String cdev = args[1];
        Map<Integer, String> start = OpenFds.snapshot();
        System.out.println("vmm: uid " + java.nio.file.Files.getAttribute(Path.of("/proc/self"), "unix:uid") + ", " + start.size() + " fds at start");
        // The sandbox: the device nodes are not ours to open.
        IommufdException denied = assertThrows(IommufdException.class, () -> Iommufd.open(Backend.NATIVE).close());
        System.out.println("vmm: open /dev/iommu: " + denied.errnoName() + "; open " + cdev + ": "
                + Errno.name(-Libc.open(cdev, Libc.O_RDWR | Libc.O_CLOEXEC, 0)));
        int ioasId;
        try (Arena arena = Arena.ofShared();
             Handoff h = Handoff.receive(socket, Duration.ofMinutes(10));
             Iommufd fd = h.iommufd()) {
            System.out.println("vmm: received " + h);
            VfioDevice edu = h.device(fd, cdev);
            Ioas ioas = h.adoptIoas(fd);
            ioasId = ioas.id();
            // Swapped descriptors are refused and stay with their owners.
            System.out.println("vmm: Iommufd.fromFd(the cdev): " + assertThrows(IommufdException.class, () -> Iommufd.fromFd(edu.fd())).errnoName()
                    + "; VfioDevice.fromFd(the iommufd): " + assertThrows(IommufdException.class, () -> VfioDevice.fromFd(fd, fd.fd())).errnoName());

            edu.attach(ioas.id());
            MemorySegment bar0 = EduDmaGuestTest.enable(edu, arena);
            MemorySegment ram = arena.allocate(2 * PAGE, PAGE);
            for (int i = 0; i < PAGE; i++) ram.set(JAVA_BYTE, i, (byte) (i * 13 + 5));
            ioas.map(ram, IOVA, Access.READ_WRITE);
            EduDmaGuestTest.dma(bar0, IOVA, EDU_BUFFER, PAGE, false);        // RAM -> device
            EduDmaGuestTest.dma(bar0, EDU_BUFFER, IOVA + PAGE, PAGE, true);  // device -> RAM
            assertEquals(-1L, ram.asSlice(0, PAGE).mismatch(ram.asSlice(PAGE, PAGE)), "data came back through the IOMMU");
            System.out.println("vmm: edu DMA round trip through the helper's IOAS " + ioas.id() + ": ok");

            ioas.unmap(IOVA, 2 * PAGE);
            edu.close();  // detaches: the IOAS is free to go
            ioas.close(); // the adopted handle destroys the helper's IOAS
            assertEquals("ENOENT", assertThrows(IommufdException.class, () -> fd.destroy(ioasId)).errnoName(), "destroyed by close");
        }
        List<String> leaked = OpenFds.leakedSince(start);
        Map<Integer, String> end = OpenFds.snapshot();
        int atEnd = end.size();
        end.keySet().removeAll(start.keySet());
        System.out.println("vmm: " + atEnd + " fds at the end (new: " + end.values() + "), changed other than jars: " + leaked);
        System.exit(leaked.isEmpty() ? 0 : 3);
    }
}
