package io.github.iommufd4j.junit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

import static org.junit.jupiter.api.Assertions.*;

/** What a guest run needs before QEMU: the extracted scripts, the kernel choice, the class path. */
class GuestSetupTest {
    @Test
    void theScriptsAreExtractedOnceWithTheirContentAndTheShellScriptsExecutable() throws Exception {
        Path dir = GuestScripts.dir();
        assertSame(dir, GuestScripts.dir());
        assertTrue(dir.startsWith(GuestScripts.cacheRoot().resolve("scripts")), dir.toString());
        for (String name : GuestScripts.NAMES) {
            Path f = dir.resolve(name);
            try (InputStream in = GuestScripts.class.getResourceAsStream("vm/" + name)) {
                assertArrayEquals(in.readAllBytes(), Files.readAllBytes(f), name);
            }
            assertEquals(name.endsWith(".sh"), Files.isExecutable(f), name);
        }
    }

    @Test
    void aKernelIsAVersionWeBuildOrAPathThatExists(@TempDir Path tmp) throws Exception {
        Path bz = Files.writeString(tmp.resolve("bzImage"), "");
        assertNull(GuestKernels.unavailableReason(bz.toString()));
        assertEquals(bz, GuestKernels.resolve(bz.toString()));
        assertEquals("no guest kernel " + tmp.resolve("none"), GuestKernels.unavailableReason(tmp.resolve("none").toString()));
        assertEquals("guest kernel \"5.10\": 7.3, 6.12 or the path of a bzImage", GuestKernels.unavailableReason("5.10"));
    }

    @Test
    void aManifestOnlyJarIsReplacedByTheClassPathItLists(@TempDir Path tmp) throws Exception {
        Path classes = Files.createDirectories(tmp.resolve("test classes"));
        Path lib = Files.writeString(tmp.resolve("lib.jar"), "");
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.CLASS_PATH, classes.toUri() + " lib.jar");
        Path booter = tmp.resolve("booter.jar");
        try (var out = new JarOutputStream(Files.newOutputStream(booter), m)) {
            out.flush();
        }
        assertEquals(classes + ":" + lib, GuestRun.expand(booter.toString()));
        assertEquals("/a:/b.jar", GuestRun.expand("/a:/b.jar"));
    }
}
