package io.github.iommufd4j;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A JVM that never creates a JFR recording never loads the library's map/unmap event classes (loading
 * the first event class initializes JFR's metadata, hundreds of classes, on a fresh JVM's first map);
 * a recording created later still receives the events. In a child JVM, so that no other test's
 * recording has initialized JFR first.
 */
class JfrUntilRecordingTest {
    private static final String BEFORE = "== before the recording";

    /** Runs in the child JVM (class loading logged on stdout). */
    public static void main(String[] args) throws Exception {
        try (Iommufd fd = Iommufd.open(Backend.SOFTWARE); Arena arena = Arena.ofConfined()) {
            Ioas ioas = fd.allocIoas();
            var page = arena.allocate(4096, 4096);
            ioas.unmap(ioas.map(page, Access.READ_WRITE), 4096);
            System.out.println(BEFORE);
            Path file = Files.createTempFile("iommufd4j-late", ".jfr");
            try (Recording r = new Recording()) {
                r.enable("io.github.iommufd4j.IoasMap");
                r.enable("io.github.iommufd4j.IoasUnmap");
                r.start();
                ioas.unmap(ioas.map(page, Access.READ_WRITE), 4096);
                r.stop();
                r.dump(file);
                System.out.println("events: " + RecordingFile.readAllEvents(file).stream()
                        .filter(e -> e.getEventType().getName().startsWith("io.github.iommufd4j.Ioas")).count());
            } finally {
                Files.deleteIfExists(file);
            }
        }
    }

    @Test
    void eventClassesLoadOnlyOnceARecordingExistsAndItsEventsAreStillRecorded() throws Exception {
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xlog:class+load=info:stdout", "--enable-native-access=ALL-UNNAMED",
                "-cp", String.join(java.io.File.pathSeparator, classesOf(Iommufd.class), classesOf(io.github.iommufd4j.bindings.Libc.class),
                        classesOf(JfrUntilRecordingTest.class)), JfrUntilRecordingTest.class.getName()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains(BEFORE), out);
        String before = out.substring(0, out.indexOf(BEFORE));
        assertTrue(before.contains("io.github.iommufd4j.Ioas "), "the map ran: " + before);
        assertFalse(before.contains("IoasMapEvent") || before.contains("IoasUnmapEvent") || before.contains("jdk.jfr.internal."),
                "no event class and no JFR internals before a recording exists");
        assertTrue(out.contains("events: 2"), out);
    }

    private static String classesOf(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
