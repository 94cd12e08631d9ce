package io.github.iommufd4j.bindings;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Libc binds a function on its first call only (a fresh JVM's start-up would otherwise pay for
 * every downcall handle): in a child JVM that calls getpid, getpid's holder is loaded and no
 * other's is.
 */
class LibcLazyBindingTest {

    /** Runs in the child JVM (class loading logged on stdout). */
    public static void main(String[] args) {
        System.out.println("pid " + Libc.getpid() + " of " + ProcessHandle.current().pid());
    }

    @Test
    void onlyTheCalledFunctionIsBound() throws Exception {
        String classes = Path.of(Libc.class.getProtectionDomain().getCodeSource().getLocation().toURI()) + java.io.File.pathSeparator
                + Path.of(LibcLazyBindingTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xlog:class+load=info:stdout", "--enable-native-access=ALL-UNNAMED", "-cp", classes, LibcLazyBindingTest.class.getName()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        long pid = p.pid();
        assertTrue(out.contains("pid " + pid + " of " + pid), out);
        assertTrue(out.contains("io.github.iommufd4j.bindings.Libc$GETPID "), out);
        assertFalse(out.contains("io.github.iommufd4j.bindings.Libc$SOCKET ") || out.contains("io.github.iommufd4j.bindings.Libc$IOCTL_PTR "),
                "functions never called are not bound");
    }
}
