package io.github.iommufd4j.vm;

import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Boots guests per kernel (6.12 and 7.3): the mock profile runs the contract suite (and the
 * fault pump's) against the kernel's iommufd and its mock driver; the intel profile runs the
 * VM-only tests (VFIO cdev edu device, DMA through the Intel vIOMMU), and so does the virtio
 * profile (virtio-iommu). With {@code -Diommufd4j.vm.reliability=true} (Maven profile
 * {@code reliability}) a further mock-profile guest per kernel runs the reliability suite. Every guest test is
 * reported as a test of its own here, so a failure names the guest test and shows the guest
 * console's tail.
 *
 * <p>Select kernels with {@code -Diommufd4j.vm.kernels=7.3,6.12}; {@code -Diommufd4j.vm.skip=true}
 * skips the VM tests. Without QEMU they are skipped with the reason. {@code
 * -Diommufd4j.vm.launcher=container} runs QEMU in a container ({@link ContainerLauncher}).
 */
class GuestSuiteTest {
    static final Path VM_TESTS = Path.of(System.getProperty("iommufd4j.vmtests.dir", ".")).toAbsolutePath();
    static final Path GUEST_LIB = VM_TESTS.resolve("target/guest-lib");

    @TestFactory
    Stream<DynamicNode> contractSuiteInTheGuest() throws Exception {
        assumeTrue(!Boolean.getBoolean("iommufd4j.vm.skip"), "VM tests skipped (-Diommufd4j.vm.skip=true)");
        String which = System.getProperty("iommufd4j.vm.launcher", "qemu");
        VmLauncher launcher = switch (which) {
            case "qemu" -> new QemuLauncher(VM_TESTS);
            case "container" -> new ContainerLauncher(VM_TESTS);
            default -> throw new IllegalArgumentException("-Diommufd4j.vm.launcher=" + which + ": qemu or container");
        };
        String why = launcher.unavailableReason();
        assumeTrue(why == null, () -> "VM tests skipped: " + why);
        List<DynamicNode> nodes = new ArrayList<>();
        for (String version : System.getProperty("iommufd4j.vm.kernels", "7.3,6.12").split(",")) {
            nodes.add(runInGuest(launcher, version.trim(), VmLauncher.Profile.MOCK, "io.github.iommufd4j.contract"));
            nodes.add(runInGuest(launcher, version.trim(), VmLauncher.Profile.INTEL, "io.github.iommufd4j.vm.guest"));
            nodes.add(runInGuest(launcher, version.trim(), VmLauncher.Profile.VIRTIO, "io.github.iommufd4j.vm.guest"));
            if (Boolean.getBoolean("iommufd4j.vm.reliability")) {
                // The reliability suite (fail-nth sweeps, fault load, differential fuzzing, leak checks).
                nodes.add(runInGuest(launcher, version.trim(), VmLauncher.Profile.MOCK, "reliability",
                        "--select-package=io.github.iommufd4j.reliability", RELIABILITY_OPTS));
                // The pump's allocation per fault and per vEVENT on the kernel's fds, with the
                // optimizing compiler (the other runs stop at C1 to save emulated CPU time; C1 keeps
                // the FFM downcalls' temporary objects), warmed up until it has compiled. C2 alone,
                // not tiered: under QEMU TCG, tiered runs (C1 code replaced by C2 code while other
                // threads run it) twice died of SIGSEGV inside C1-compiled JDK code.
                nodes.add(runInGuest(launcher, version.trim(), VmLauncher.Profile.MOCK, "allocation",
                        "--select-class=io.github.iommufd4j.pump.FaultPumpAllocationTest",
                        "-XX:TieredStopAtLevel=4 -XX:-TieredCompilation"));
            }
        }
        return nodes.stream();
    }

    /**
     * Sizes of the reliability guest run (per kernel, under TCG): fuzz operations, faults under
     * load, open/close cycles. {@code -Diommufd4j.vm.reliability.opts} replaces them.
     */
    static final String RELIABILITY_OPTS = System.getProperty("iommufd4j.vm.reliability.opts",
            "-Diommufd4j.fuzz.ops=50000 -Diommufd4j.load.faults=1000000 -Diommufd4j.leak.cycles=2000");

    private DynamicNode runInGuest(VmLauncher launcher, String version, VmLauncher.Profile profile, String testPackage)
            throws Exception {
        return runInGuest(launcher, version, profile, profile.scriptName(), "--select-package=" + testPackage, "");
    }

    private DynamicNode runInGuest(VmLauncher launcher, String version, VmLauncher.Profile profile, String suite,
                                   String select, String javaOpts) throws Exception {
        Path kernel = GuestKernel.resolve(VM_TESTS, version);
        Path results = VM_TESTS.resolve("target/vm-results/" + version + "-" + suite);
        deleteRecursively(results);
        Files.createDirectories(results);
        String console = jar("junit-platform-console-standalone");
        String cp;
        try (var s = Files.list(GUEST_LIB)) {
            cp = s.map(Path::toString).filter(p -> !p.contains("junit-platform-console-standalone"))
                    .sorted().collect(Collectors.joining(":"));
        }
        // The VM-only tests and @RequiresIommufd (this module's).
        cp += ":" + VM_TESTS.resolve("target/test-classes") + ":" + VM_TESTS.resolve("target/classes");
        Map<String, String> env = Map.of(
                "JAVA", Path.of(System.getProperty("java.home"), "bin/java").toString(),
                "CONSOLE_JAR", console,
                "TEST_CLASSPATH", cp,
                "SELECT", select,
                "JAVA_OPTS", javaOpts);
        var spec = new VmLauncher.Spec(kernel, profile, VM_TESTS.resolve("guest-suite.sh"), env, results, Duration.ofMinutes(20));
        VmLauncher.Result r = launcher.run(spec);
        String tail = tail(r.console(), 60);
        String name = "Linux " + version + " (" + suite + ")";
        List<DynamicNode> tests = new ArrayList<>(guestTests(results.resolve("junit"), name, tail));
        System.out.printf("[vm] %s: %d guest tests, guest exit %d, wall %ds%n", name, tests.size(), r.exitCode(), r.wallTime().toSeconds());
        Path log = results.resolve("cmd.log"); // measured figures the guest tests print
        if (Files.exists(log)) {
            for (String line : Files.readAllLines(log)) if (line.contains("bytes/") || line.startsWith("[reliability]")) System.out.printf("[vm] %s: %s%n", name, line.trim());
        }
        if (tests.isEmpty() || (r.exitCode() != 0 && r.exitCode() != 1)) {
            // The guest did not run its suite (boot failure, crash, timeout): that is a failure too.
            tests.add(DynamicTest.dynamicTest("guest run", () -> fail("guest exit " + r.exitCode()
                    + " and " + tests.size() + " test reports; console tail:\n" + tail)));
        }
        return DynamicContainer.dynamicContainer(name, tests);
    }

    /** One dynamic test per {@code <testcase>} of the guest's JUnit XML. */
    static List<DynamicTest> guestTests(Path junitDir, String guest, String consoleTail) throws Exception {
        List<DynamicTest> out = new ArrayList<>();
        if (!Files.isDirectory(junitDir)) return out;
        try (var files = Files.list(junitDir)) {
            for (Path xml : files.filter(f -> f.toString().endsWith(".xml")).sorted().toList()) {
                var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(xml.toFile());
                NodeList cases = doc.getElementsByTagName("testcase");
                for (int i = 0; i < cases.getLength(); i++) {
                    Element c = (Element) cases.item(i);
                    String cls = c.getAttribute("classname");
                    String name = cls.substring(cls.lastIndexOf('.') + 1) + "." + c.getAttribute("name");
                    Element failure = first(c, "failure", "error");
                    boolean skipped = first(c, "skipped") != null;
                    out.add(DynamicTest.dynamicTest(name, () -> {
                        if (failure != null) {
                            fail(name + " failed in the guest, " + guest + ": " + failure.getAttribute("message") + "\n" + failure.getTextContent()
                                    + "\n--- guest console tail\n" + consoleTail);
                        }
                        assumeTrue(!skipped, "skipped in the guest");
                    }));
                }
            }
        }
        return out;
    }

    private static Element first(Element parent, String... tags) {
        for (String t : tags) {
            NodeList l = parent.getElementsByTagName(t);
            if (l.getLength() > 0) return (Element) l.item(0);
        }
        return null;
    }

    private static String jar(String prefix) throws IOException {
        try (var s = Files.list(GUEST_LIB)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)).findFirst()
                    .orElseThrow(() -> new IOException("no " + prefix + " in " + GUEST_LIB)).toString();
        }
    }

    static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no console: " + e + ")";
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            s.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }
}
