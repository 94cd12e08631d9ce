package io.github.iommufd4j.vm;

import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

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
 * The fourth kind of guest: arm64 under QEMU with its SMMUv3 in nested mode and the kernel's
 * real arm-smmu-v3 driver (vm-tests/arm64). Runs with {@code -Diommufd4j.vm.arch=arm64} (Maven
 * profile {@code arm64}); skipped otherwise, and skipped with the reason when the tools are
 * missing. Two guests: one booted with the test-only option that lets the driver allocate
 * vIOMMUs under QEMU (the SMMUv3 guest tests and the edu DMA tests), one without it (the
 * refusal). Each guest test is reported as a test of its own, as in {@link GuestSuiteTest}.
 */
class Arm64GuestSuiteTest {

    @TestFactory
    Stream<DynamicNode> smmuv3GuestSuite() throws Exception {
        assumeTrue(!Boolean.getBoolean("iommufd4j.vm.skip"), "VM tests skipped (-Diommufd4j.vm.skip=true)");
        assumeTrue("arm64".equals(System.getProperty("iommufd4j.vm.arch")), "the arm64 guest runs with -Diommufd4j.vm.arch=arm64");
        Arm64Launcher withOption = new Arm64Launcher(GuestSuiteTest.VM_TESTS, true);
        String why = withOption.unavailableReason();
        assumeTrue(why == null, () -> "arm64 VM tests skipped: " + why);
        Path kernel = withOption.kernel();
        List<DynamicNode> nodes = new ArrayList<>();
        nodes.add(run(withOption, kernel, "smmuv3",
                "--select-class=io.github.iommufd4j.vm.guest.Smmuv3GuestTest --select-class=io.github.iommufd4j.vm.guest.EduDmaGuestTest"));
        nodes.add(run(new Arm64Launcher(GuestSuiteTest.VM_TESTS, false), kernel, "smmuv3-no-canwbs",
                "--select-method=io.github.iommufd4j.vm.guest.Smmuv3GuestTest#viommuIsRefusedWithoutCanwbs"));
        return nodes.stream();
    }

    private DynamicNode run(Arm64Launcher launcher, Path kernel, String suite, String select) throws Exception {
        Path results = GuestSuiteTest.VM_TESTS.resolve("target/vm-results/arm64-" + suite);
        if (Files.exists(results)) {
            try (var s = Files.walk(results)) {
                s.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(java.io.File::delete);
            }
        }
        Files.createDirectories(results);
        List<String> jars;
        try (var s = Files.list(GuestSuiteTest.GUEST_LIB)) {
            jars = s.map(Path::toString).sorted().toList();
        }
        String console = jars.stream().filter(j -> j.contains("junit-platform-console-standalone")).findFirst().orElseThrow();
        String cp = jars.stream().filter(j -> !j.equals(console)).collect(Collectors.joining(":"))
                + ":" + GuestSuiteTest.VM_TESTS.resolve("target/test-classes") + ":" + GuestSuiteTest.VM_TESTS.resolve("target/classes");
        Map<String, String> env = Map.of("JAVA", Arm64Launcher.GUEST_JAVA, "CONSOLE_JAR", console,
                "TEST_CLASSPATH", cp, "SELECT", select, "JAVA_OPTS", "");
        var spec = new VmLauncher.Spec(kernel, VmLauncher.Profile.SMMUV3, GuestSuiteTest.VM_TESTS.resolve("guest-suite.sh"),
                env, results, Duration.ofMinutes(25));
        VmLauncher.Result r = launcher.run(spec);
        String tail = GuestSuiteTest.tail(r.console(), 60);
        String name = "Linux 7.3 arm64 (" + suite + ")";
        List<DynamicNode> tests = new ArrayList<>(GuestSuiteTest.guestTests(results.resolve("junit"), name, tail));
        System.out.printf("[vm] %s: %d guest tests, guest exit %d, wall %ds%n", name, tests.size(), r.exitCode(), r.wallTime().toSeconds());
        if (tests.isEmpty() || (r.exitCode() != 0 && r.exitCode() != 1)) {
            tests.add(DynamicTest.dynamicTest("guest run", () -> fail("guest exit " + r.exitCode()
                    + " and " + tests.size() + " test reports; console tail:\n" + tail)));
        }
        return DynamicContainer.dynamicContainer(name, tests);
    }
}
