package io.github.iommufd4j.junit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Why no guest can run (the reason a guest test is skipped with), and that nothing is installed. */
class GuestUnavailableTest {
    @Test
    void withoutQemuOnThePathTheReasonNamesItAndTheSetUpScript(@TempDir Path tmp) throws Exception {
        QemuLauncher launcher = new QemuLauncher(GuestScripts.dir());
        String why = launcher.unavailableReason(tmp.toString());
        assertTrue(why.startsWith("qemu-system-x86_64 is not installed"), why);
        assertTrue(why.contains("sudo " + GuestScripts.dir().resolve("setup-host.sh")), why);

        Path qemu = Files.writeString(tmp.resolve("qemu-system-x86_64"), "#!/bin/sh\n");
        assertTrue(qemu.toFile().setExecutable(true));
        assertNull(launcher.unavailableReason("/nonexistent:" + tmp));
    }

    /** A host whose dpkg knows none of the build tools: a stub dpkg first on the PATH. */
    private static Process probe(Path cache, Path stubs) throws Exception {
        Path dpkg = Files.writeString(Files.createDirectories(stubs).resolve("dpkg"), "#!/bin/sh\nexit 1\n");
        assertTrue(dpkg.toFile().setExecutable(true));
        ProcessBuilder pb = new ProcessBuilder("bash", GuestScripts.dir().resolve("build-kernel.sh").toString(), "--probe", "7.3");
        pb.environment().put("IOMMUFD4J_CACHE", cache.toString());
        pb.environment().remove("IOMMUFD4J_KERNEL_7_3");
        pb.environment().put("PATH", stubs + ":" + System.getenv("PATH"));
        return pb.start();
    }

    @Test
    void withoutACachedKernelAndWithoutTheBuildToolsTheProbeSaysWhatIsMissingAndInstallsNothing(@TempDir Path tmp)
            throws Exception {
        Process p = probe(tmp.resolve("cache"), tmp.resolve("bin"));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(3, p.waitFor(), err);
        assertEquals("", out);
        assertTrue(err.contains("no cached guest kernel 7.3 and the kernel build tools are missing: make gcc"), err);
        assertTrue(err.contains("install them with:  sudo "), err);
        assertTrue(err.endsWith("setup-host.sh)"), err);
    }

    @Test
    void aCachedKernelNeedsNoBuildTools(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        String hash = sha12(GuestScripts.dir().resolve("guest.config"));
        Path bz = Files.writeString(Files.createDirectories(cache.resolve("kernels/7.3.4-1-" + hash)).resolve("bzImage"), "");
        Process p = probe(cache, tmp.resolve("bin"));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        assertEquals(bz.toString(), out);
    }

    private static String sha12(Path f) throws Exception {
        byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
        return java.util.HexFormat.of().formatHex(d).substring(0, 12);
    }
}
