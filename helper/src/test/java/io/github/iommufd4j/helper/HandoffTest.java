package io.github.iommufd4j.helper;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FdChannel;
import io.github.iommufd4j.FdListener;
import io.github.iommufd4j.FdPassingException;
import io.github.iommufd4j.FdPassingException.Reason;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.testing.OpenFds;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The VMM's side of the helper's hand-over, on the host with stand-in descriptors (pipes): the
 * message is parsed, refused adoptions leave the descriptors with the Handoff, bad messages are
 * typed errors, and nothing leaks.
 */
class HandoffTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final String CDEV = "/dev/vfio/devices/vfio0";
    Map<Integer, String> before;
    Arena arena;
    FdChannel helper, vmm;
    int[] pipe;

    @BeforeEach
    void open() throws Exception {
        before = OpenFds.snapshot();
        arena = Arena.ofConfined();
        MemorySegment s = arena.allocate(JAVA_INT, 4);
        assertEquals(0, Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0, s));
        helper = FdChannel.fromFd(s.get(JAVA_INT, 0));
        vmm = FdChannel.fromFd(s.get(JAVA_INT, 4));
        assertEquals(0, Libc.pipe2(s.asSlice(8), Libc.O_CLOEXEC));
        pipe = new int[] {s.get(JAVA_INT, 8), s.get(JAVA_INT, 12)};
    }

    @AfterEach
    void noDescriptorLeft() {
        helper.close();
        vmm.close();
        Libc.close(pipe[0]);
        Libc.close(pipe[1]);
        arena.close();
        assertEquals(List.of(), OpenFds.leakedSince(before));
    }

    @Test
    void theMessageRoundTripsAndRefusedAdoptionsKeepTheDescriptors() throws Exception {
        helper.send(Handoff.encode(List.of(CDEV), OptionalInt.of(3)), pipe[0], pipe[1]);
        try (Handoff h = Handoff.receive(vmm, WAIT); Iommufd sw = Iommufd.open(Backend.SOFTWARE)) {
            assertEquals(List.of(CDEV), h.devices());
            assertEquals(OptionalInt.of(3), h.ioasId());
            // A pipe stands in for the iommufd and the cdev: both are refused, and stay with h.
            assertEquals("ENOTTY", assertThrows(IommufdException.class, h::iommufd).errnoName());
            assertEquals("ENODEV", assertThrows(IommufdException.class, () -> h.device(sw, CDEV)).errnoName());
            assertEquals("ENOTTY", assertThrows(IommufdException.class, h::iommufd).errnoName(), "still there");
            assertThrows(IllegalArgumentException.class, () -> h.device(sw, "/dev/vfio/devices/vfio9"));
        }
    }

    @Test
    void withoutAnIoasThereIsNoneToAdopt() throws Exception {
        helper.send(Handoff.encode(List.of(), OptionalInt.empty()), pipe[0]);
        try (Handoff h = Handoff.receive(vmm, WAIT); Iommufd sw = Iommufd.open(Backend.SOFTWARE)) {
            assertEquals(List.of(), h.devices());
            assertTrue(h.ioasId().isEmpty());
            assertThrows(IllegalStateException.class, () -> h.adoptIoas(sw));
        }
    }

    @Test
    void badMessagesAreTypedAndTheirDescriptorsClosed() throws Exception {
        helper.send("hello\niommufd\n".getBytes(StandardCharsets.UTF_8), pipe[0]);
        assertEquals(Reason.BAD_PAYLOAD, assertThrows(FdPassingException.class, () -> Handoff.receive(vmm, WAIT)).reason());
        helper.send((Handoff.HEADER + "\niommufd\nioas x\n").getBytes(StandardCharsets.UTF_8), pipe[0]);
        assertEquals(Reason.BAD_PAYLOAD, assertThrows(FdPassingException.class, () -> Handoff.receive(vmm, WAIT)).reason());
        helper.send(Handoff.encode(List.of(CDEV), OptionalInt.empty()), pipe[0]); // the device's fd is missing
        FdPassingException e = assertThrows(FdPassingException.class, () -> Handoff.receive(vmm, WAIT));
        assertEquals(Reason.WRONG_FD_COUNT, e.reason());
        assertTrue(e.getMessage().contains("1 arrived, 2 announced"), e.getMessage());
        helper.send(Handoff.encode(List.of(), OptionalInt.empty())); // no iommufd at all
        assertEquals(Reason.WRONG_FD_COUNT, assertThrows(FdPassingException.class, () -> Handoff.receive(vmm, WAIT)).reason());
        helper.close();
        assertEquals(Reason.PEER_CLOSED, assertThrows(FdPassingException.class, () -> Handoff.receive(vmm, WAIT)).reason());
    }

    @Test
    void receiveByPathWaitsForTheHelpersSocket() throws Exception {
        Path dir = Files.createTempDirectory("handoff");
        Path socket = dir.resolve("helper.sock");
        try {
            CompletableFuture<List<String>> vmmSide = CompletableFuture.supplyAsync(() -> {
                try (Handoff h = Handoff.receive(socket, WAIT)) {
                    return h.devices();
                } catch (IommufdException e) {
                    throw new RuntimeException(e);
                }
            });
            try (FdListener l = FdListener.bind(socket); FdChannel c = l.accept(WAIT)) {
                c.send(Handoff.encode(List.of(CDEV), OptionalInt.empty()), pipe[0], pipe[1]);
            }
            assertEquals(List.of(CDEV), vmmSide.get(30, TimeUnit.SECONDS));
            IommufdException e = assertThrows(IommufdException.class, () -> Handoff.receive(socket, Duration.ofMillis(50)));
            assertEquals("ENOENT", e.errnoName(), "no helper came");
        } finally {
            Files.delete(dir);
        }
    }
}
