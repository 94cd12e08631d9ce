package io.github.iommufd4j.vm.guest;

import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.helper.Handoff;
import io.github.iommufd4j.helper.Helper;
import io.github.iommufd4j.testing.OpenFds;
import io.github.iommufd4j.junit.RequiresIommufd;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A sandboxed VMM: the helper (this process, root, running {@link Helper} as its main would)
 * opens {@code /dev/iommu} and the edu cdev, allocates an IOAS and hands them over a UNIX socket
 * to the VMM ({@link SandboxedVmm}), a process under uid 65534 that can open neither; the VMM
 * binds, adopts the IOAS, attaches, maps and checks an edu DMA round trip. Afterwards both
 * processes hold exactly the descriptors they started with.
 */
@RequiresIommufd(vfioDevice = "/dev/vfio/devices/vfio0")
class SandboxedVmmGuestTest {
    static final String NOBODY = "65534";
    static final Path SETPRIV = Path.of("/usr/bin/setpriv");

    @Test
    void anUnprivilegedVmmGetsTheDeviceFromTheHelperAndDoesDma() throws Exception {
        assumeTrue(Files.isExecutable(SETPRIV), "no setpriv to run the VMM as another user");
        Path dir = Files.createTempDirectory("sandbox");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x")); // the VMM may pass, not list
        Path socket = dir.resolve("helper.sock"), log = dir.resolve("vmm.log");
        Map<Integer, String> start = OpenFds.snapshot();

        Process vmm = new ProcessBuilder(SETPRIV.toString(), "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--",
                Path.of(System.getProperty("java.home"), "bin/java").toString(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "--enable-native-access=ALL-UNNAMED", "-cp", readableClassPath(dir.resolve("cp")), SandboxedVmm.class.getName(),
                socket.toString(), EduDmaGuestTest.CDEV.toString())
                .redirectInput(new File("/dev/null")).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status;
        try {
            status = Helper.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                    "--socket", socket.toString(), "--device", EduDmaGuestTest.CDEV.toString(), "--ioas",
                    "--client-uid", NOBODY, "--timeout", "180");
            assertTrue(vmm.waitFor(10, TimeUnit.MINUTES), "the VMM finished");
        } finally {
            vmm.destroyForcibly().waitFor();
        }
        String vmmLog = Files.readString(log);
        System.out.print(out + err.toString() + vmmLog);
        assertEquals(0, status, "helper: " + out + err + "\nVMM:\n" + vmmLog);
        assertTrue(out.toString().contains("handed the iommufd, 1 device(s), ioas 1 to pid " + vmm.pid() + " (uid " + NOBODY + ")"), out.toString());
        assertEquals(0, vmm.exitValue(), "VMM:\n" + vmmLog);
        assertTrue(vmmLog.contains("vmm: uid " + NOBODY), vmmLog);
        assertTrue(vmmLog.contains("open /dev/iommu: EACCES; open /dev/vfio/devices/vfio0: EACCES"), vmmLog);
        assertTrue(vmmLog.contains("Iommufd.fromFd(the cdev): ENOTTY; VfioDevice.fromFd(the iommufd): ENODEV"), vmmLog);
        assertTrue(vmmLog.contains("edu DMA round trip through the helper's IOAS 1: ok"), vmmLog);
        assertTrue(vmmLog.contains("changed other than jars: []"), vmmLog);

        assertFalse(Files.exists(socket), "the helper removed its socket");
        Files.delete(log);
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
        assertEquals(List.of(), OpenFds.leakedSince(start), "the helper's process holds what it held before");
        // The device is free again: this process can open and bind it (the VMM closed it).
        try (Iommufd fd = Iommufd.open(io.github.iommufd4j.Backend.NATIVE)) {
            io.github.iommufd4j.VfioDevice.open(fd, EduDmaGuestTest.CDEV).close();
        }
    }

    /**
     * {@link #classPath()} copied where the VMM's uid can read it: the entries may sit under a
     * directory only root may enter (e.g. a Maven repository in /root).
     */
    static String readableClassPath(Path into) throws java.io.IOException {
        List<String> out = new java.util.ArrayList<>();
        Files.createDirectories(into);
        int i = 0;
        for (String entry : classPath().split(File.pathSeparator)) {
            Path src = Path.of(entry), dst = into.resolve(i++ + "-" + src.getFileName());
            try (Stream<Path> all = Files.walk(src)) {
                for (Path p : (Iterable<Path>) all::iterator) {
                    Path t = dst.resolve(src.relativize(p).toString());
                    if (Files.isDirectory(p)) Files.createDirectories(t);
                    else Files.copy(p, t);
                    Files.setPosixFilePermissions(t, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
                }
            }
            out.add(dst.toString());
        }
        Files.setPosixFilePermissions(into, PosixFilePermissions.fromString("rwxr-xr-x"));
        return String.join(File.pathSeparator, out);
    }

    /** Where this test's classes and the library came from: the VMM's class path. */
    static String classPath() {
        return Stream.of(SandboxedVmm.class, Handoff.class, Iommufd.class, Libc.class, OpenFds.class, Assertions.class,
                        org.opentest4j.AssertionFailedError.class)
                .map(c -> Path.of(uncheckedUri(c)).toString()).distinct().collect(Collectors.joining(File.pathSeparator));
    }

    private static java.net.URI uncheckedUri(Class<?> c) {
        try {
            return c.getProtectionDomain().getCodeSource().getLocation().toURI();
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
