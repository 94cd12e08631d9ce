package io.github.iommufd4j.junit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * Boots one guest and runs tests of this JVM's test class path in it: the engine behind
 * {@link GuestTest}, also usable from a {@code @TestFactory} for suites and matrices
 * ({@link GuestReport#dynamicTests()}).
 *
 * <p>The launcher is QEMU on this host, or with {@code -Diommufd4j.vm.launcher=container} (or
 * {@code IOMMUFD4J_VM_LAUNCHER=container}) QEMU in a container ({@link ContainerLauncher}).
 * Results go to {@code target/iommufd4j-guests/<name>} ({@code -Diommufd4j.vm.results=DIR}
 * moves them); further guest JVM options come from {@code -Diommufd4j.vm.jvmArgs}.
 */
public final class GuestRun {
    private static VmLauncher launcher;

    private GuestRun() {}

    /**
     * Whether a guest can run here.
     *
     * @param config the guest
     * @return null when it can; otherwise why not (to skip with)
     */
    public static String unavailableReason(GuestConfig config) {
        if (Boolean.getBoolean("iommufd4j.vm.skip")) return "VM tests skipped (-Diommufd4j.vm.skip=true)";
        String why = launcher().unavailableReason();
        if (why != null) return "no guest can be launched: " + why;
        return GuestKernels.unavailableReason(config.kernel());
    }

    /**
     * Returns the launcher this JVM uses (see the class comment).
     *
     * @return the launcher this JVM uses (see the class comment)
     */
    public static synchronized VmLauncher launcher() {
        if (launcher != null) return launcher;
        String env = System.getenv("IOMMUFD4J_VM_LAUNCHER");
        String which = System.getProperty("iommufd4j.vm.launcher", env == null || env.isBlank() ? "qemu" : env);
        Path scripts = GuestScripts.dir();
        launcher = switch (which) {
            case "qemu" -> new QemuLauncher(scripts);
            case "container" -> hasTestcontainers() ? new ContainerLauncher(scripts)
                    : unavailable("the container launcher needs org.testcontainers:testcontainers on the test class path");
            default -> unavailable("-Diommufd4j.vm.launcher=" + which + ": qemu or container");
        };
        return launcher;
    }

    /**
     * Boots a guest of {@code config} and runs the tests that {@code selectors} choose
     * ({@code --select-class=C}, {@code --select-method=C#m}, {@code --select-package=P},
     * {@code --select-unique-id=U}); {@code name} names the guest in reports and its results directory
     * (e.g. "Linux 7.3 (mock)").
     *
     * @param config    the guest
     * @param name      the run's name
     * @param selectors what to run
     * @return what the guest did
     * @throws IOException          if the kernel cannot be had or the guest cannot be started
     * @throws InterruptedException if interrupted while the guest runs
     */
    public static GuestReport run(GuestConfig config, String name, List<String> selectors)
            throws IOException, InterruptedException {
        return run(launcher(), config, name, selectors);
    }

    /**
     * The same with a given launcher.
     *
     * @param launcher  the launcher
     * @param config    the guest
     * @param name      the run's name
     * @param selectors what to run
     * @return what the guest did
     * @throws IOException          if the kernel cannot be had or the guest cannot be started
     * @throws InterruptedException if interrupted while the guest runs
     */
    public static GuestReport run(VmLauncher launcher, GuestConfig config, String name, List<String> selectors)
            throws IOException, InterruptedException {
        Path kernel = GuestKernels.resolve(config.kernel());
        Path results = Path.of(System.getProperty("iommufd4j.vm.results", "target/iommufd4j-guests"))
                .resolve(name.replaceAll("[^A-Za-z0-9._-]+", "_")).toAbsolutePath();
        GuestScripts.deleteTree(results);
        Files.createDirectories(results);
        List<String> jvm = new ArrayList<>(config.jvmArgs());
        String extra = System.getProperty("iommufd4j.vm.jvmArgs", "");
        if (!extra.isBlank()) jvm.add(extra);
        Map<String, String> env = new LinkedHashMap<>();
        env.put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        env.put("TEST_CLASSPATH", testClassPath());
        env.put("SELECT", String.join(" ", selectors));
        env.put("JAVA_OPTS", String.join(" ", jvm));
        var spec = new VmLauncher.Spec(kernel, config.profile(), GuestScripts.dir().resolve("guest-run.sh"), env, results,
                config.timeout(), config.runVmOptions());
        System.err.printf("[iommufd4j] booting a guest: %s (results: %s)%n", name, results);
        VmLauncher.Result r = launcher.run(spec);
        GuestReport report = GuestReport.read(name, r, results);
        System.err.printf("[iommufd4j] %s: %d guest tests, guest exit %d, wall %ds%n", report.name(),
                report.tests().size(), r.exitCode(), r.wallTime().toSeconds());
        return report;
    }

    /**
     * The test class path: Surefire's (its booter jar's manifest lists it) or this JVM's. The
     * guest's root is the host's {@code /}, so the same paths work there.
     */
    static String testClassPath() throws IOException {
        String cp = System.getProperty("surefire.test.class.path", "");
        return expand(cp.isBlank() ? System.getProperty("java.class.path") : cp);
    }

    /** A class path, with a single manifest-only jar replaced by the entries its manifest lists. */
    static String expand(String cp) throws IOException {
        String[] entries = cp.split(java.io.File.pathSeparator);
        if (entries.length == 1 && entries[0].endsWith(".jar") && Files.isRegularFile(Path.of(entries[0]))) {
            try (JarFile jar = new JarFile(entries[0])) {
                Manifest m = jar.getManifest();
                String listed = m == null ? null : m.getMainAttributes().getValue("Class-Path");
                if (listed != null && !listed.isBlank()) {
                    List<String> out = new ArrayList<>();
                    for (String u : listed.trim().split("\\s+")) {
                        out.add(Path.of(java.net.URI.create(u).isAbsolute() ? java.net.URI.create(u)
                                : Path.of(entries[0]).toAbsolutePath().getParent().toUri().resolve(u)).toString());
                    }
                    return String.join(":", out);
                }
            }
        }
        return cp;
    }

    private static boolean hasTestcontainers() {
        try {
            Class.forName("org.testcontainers.DockerClientFactory", false, GuestRun.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    private static VmLauncher unavailable(String reason) {
        return new VmLauncher() {
            @Override
            public String unavailableReason() {
                return reason;
            }

            @Override
            public Result run(Spec spec) throws IOException {
                throw new IOException(reason);
            }
        };
    }

    static String tail(Path file, int lines) {
        try (InputStream in = Files.newInputStream(file)) {
            List<String> all = new String(in.readAllBytes()).lines().toList();
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no console: " + e + ")";
        }
    }
}
