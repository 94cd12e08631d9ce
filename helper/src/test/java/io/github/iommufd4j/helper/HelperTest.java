package io.github.iommufd4j.helper;

import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The helper's command line and its failures on the host (it serves for real in the VM tests). */
class HelperTest {
    final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();

    int run(String... args) {
        return Helper.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), args);
    }

    @Test
    void badArgumentsExitWithUsage() {
        assertEquals(2, run());
        assertTrue(err.toString().contains("give one of --socket and --fd"), err.toString());
        assertTrue(err.toString().contains("usage: iommufd4j-helper"));
        assertEquals(2, run("--socket", "/tmp/x", "--fd", "3"));
        assertEquals(2, run("--socket", "/tmp/x", "--bogus"));
        assertEquals(2, run("--fd", "three"));
        assertEquals(2, run("--socket"));
        assertEquals("", out.toString());
    }

    @Test
    void optionsAreParsed() {
        Helper.Options o = Helper.parse("--socket", "/run/vmm/s", "--device", "/dev/vfio/devices/vfio0", "--device", "0000:00:03.0",
                "--ioas", "--client-uid", "1000", "--timeout", "5");
        assertEquals(Path.of("/run/vmm/s"), o.socket());
        assertEquals(java.util.List.of("/dev/vfio/devices/vfio0", "0000:00:03.0"), o.devices());
        assertTrue(o.ioas());
        assertEquals(1000, o.clientUid());
        assertEquals(5, o.timeout().toSeconds());
    }

    @Test
    void withoutTheKernelsIommufdItFailsBeforeCreatingTheSocket() throws Exception {
        assumeFalse(Iommufd.isAvailable(), "this host has /dev/iommu");
        Path dir = Files.createTempDirectory("helper");
        Path socket = dir.resolve("s.sock");
        try {
            assertEquals(1, run("--socket", socket.toString(), "--ioas"));
            assertTrue(err.toString().contains("/dev/iommu"), err.toString());
            assertFalse(Files.exists(socket));
        } finally {
            Files.delete(dir);
        }
    }
}
