package io.github.iommufd4j.access;

import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A JVM that refuses native access to the library ({@code --illegal-native-access=deny}, no
 * grant): {@link Iommufd#availability()} names the reason and {@link Iommufd#open()} fails with
 * a clear IllegalStateException naming the flags, not an ExceptionInInitializerError.
 */
class NativeAccessDeniedTest {

    /** Runs in the child JVM: prints what a user would see. */
    public static void main(String[] args) {
        System.out.println("availability: " + Iommufd.availability());
        try (Iommufd fd = Iommufd.open()) {
            System.out.println("opened: " + fd);
        } catch (Throwable t) {
            System.out.println("open: " + t.getClass().getName() + ": " + t.getMessage());
        }
    }

    @Test
    void deniedNativeAccessIsAClearErrorAndAnAvailabilityReason() throws Exception {
        String cp = List.of(classesOf(Iommufd.class), classesOf(io.github.iommufd4j.bindings.Libc.class),
                classesOf(NativeAccessDeniedTest.class)).stream().reduce((a, b) -> a + java.io.File.pathSeparator + b).orElseThrow();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--illegal-native-access=deny", "-cp", cp, NativeAccessDeniedTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("availability: Availability[available=false, reason=native access is not enabled"), out);
        assertTrue(out.contains("open: java.lang.IllegalStateException: native access is not enabled"), out);
        assertTrue(out.contains("--enable-native-access=ALL-UNNAMED"), out);
        assertFalse(out.contains("ExceptionInInitializerError"), out);
    }

    private static String classesOf(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
