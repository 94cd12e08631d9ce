package io.github.iommufd4j.vm;

import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A smoke suite through {@link ContainerLauncher}: one guest (the first of
 * {@code -Diommufd4j.vm.kernels}, 7.3 by default; mock profile) boots in QEMU inside the
 * container, finds /dev/iommu and runs a few contract tests against the kernel's iommufd: an
 * IOAS map, a map seen in the mock device's page table and a fault queue with triggered faults
 * answered. Skipped with the reason when no Docker engine answers or the image cannot be built;
 * {@code -Diommufd4j.vm.skip=true} skips it too.
 */
class ContainerLauncherTest {
    static final List<String> SELECTED = List.of(
            "io.github.iommufd4j.contract.IoasContractTest#fixedMapAndOverlapIsEEXIST",
            "io.github.iommufd4j.contract.HwptAndFaultContractTest#mapIsVisibleInTheMockPageTable",
            "io.github.iommufd4j.contract.HwptAndFaultContractTest#faultQueueDeliversTriggeredFaultsAndTakesResponses");

    @TestFactory
    Stream<DynamicNode> smokeSuiteThroughTheContainer() throws Exception {
        assumeTrue(!Boolean.getBoolean("iommufd4j.vm.skip"), "VM tests skipped (-Diommufd4j.vm.skip=true)");
        ContainerLauncher launcher = new ContainerLauncher(GuestSuiteTest.VM_TESTS);
        String why = launcher.unavailableReason();
        if (why != null) System.out.println("[vm] container launcher unavailable: " + why);
        assumeTrue(why == null, () -> "container VM tests skipped: " + why);

        String version = System.getProperty("iommufd4j.vm.kernels", "7.3").split(",")[0].trim();
        Path kernel = GuestKernel.resolve(GuestSuiteTest.VM_TESTS, version);
        Path results = GuestSuiteTest.VM_TESTS.resolve("target/vm-results/container-smoke-" + version);
        if (Files.exists(results)) {
            try (var s = Files.walk(results)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
        Files.createDirectories(results);
        Path lib = GuestSuiteTest.GUEST_LIB;
        String console;
        String cp;
        try (var s = Files.list(lib)) {
            List<String> jars = s.map(Path::toString).sorted().toList();
            console = jars.stream().filter(j -> j.contains("junit-platform-console-standalone")).findFirst()
                    .orElseThrow(() -> new IOException("no console launcher in " + lib));
            cp = jars.stream().filter(j -> !j.equals(console)).collect(Collectors.joining(":"));
        }
        Map<String, String> env = Map.of(
                "JAVA", Path.of(System.getProperty("java.home"), "bin/java").toString(),
                "CONSOLE_JAR", console,
                "TEST_CLASSPATH", cp,
                "SELECT", SELECTED.stream().map(m -> "--select-method=" + m).collect(Collectors.joining(" ")));
        var spec = new VmLauncher.Spec(kernel, VmLauncher.Profile.MOCK,
                GuestSuiteTest.VM_TESTS.resolve("container/guest-smoke.sh"), env, results, Duration.ofMinutes(10));
        VmLauncher.Result r = launcher.run(spec);
        String name = "Linux " + version + " (mock) in " + launcher.image();
        System.out.printf("[vm] %s: guest exit %d, wall %.1fs (%s)%n", name, r.exitCode(), r.wallTime().toMillis() / 1e3,
                firstLine(results.resolve(ContainerLauncher.CONTAINER_LOG), "times:"));
        String tail = GuestSuiteTest.tail(r.console(), 60);
        String runLog = GuestSuiteTest.tail(results.resolve(ContainerLauncher.RUN_LOG), 80);

        List<DynamicNode> tests = new ArrayList<>();
        tests.add(DynamicTest.dynamicTest("the guest booted and passed", () -> assertEquals(0, r.exitCode(),
                "guest exit " + r.exitCode() + "\n--- run-vm.log\n" + runLog + "\n--- console tail\n" + tail)));
        tests.add(DynamicTest.dynamicTest("/dev/iommu in the guest", () -> assertTrue(
                read(results.resolve("cmd.log")).contains("guest-smoke: /dev/iommu ok"), "console tail:\n" + tail)));
        List<DynamicTest> guest = GuestSuiteTest.guestTests(results.resolve("junit"), name, tail);
        tests.add(DynamicTest.dynamicTest("every selected contract test ran", () -> assertEquals(SELECTED.size(), guest.size(),
                "guest test reports; console tail:\n" + tail)));
        tests.addAll(guest);
        tests.add(DynamicTest.dynamicTest("the container's output and record are in the results", () -> {
            assertTrue(read(results.resolve(ContainerLauncher.RUN_LOG)).contains("[run-vm] exit "), runLog);
            String record = read(results.resolve(ContainerLauncher.CONTAINER_LOG));
            assertTrue(record.contains("image " + launcher.image()) && record.contains("times:"), record);
        }));
        return tests.stream();
    }

    @Test
    void theGuestsPathsAreMountedOnceEachAndTheResultsAreNot(@TempDir Path dir) throws Exception {
        Path vm = Files.createDirectories(dir.resolve("vm"));
        Path kernelDir = Files.createDirectories(dir.resolve("kernels/7.3"));
        Path kernel = Files.writeString(kernelDir.resolve("bzImage"), "");
        Path script = Files.writeString(vm.resolve("guest-suite.sh"), "");
        Path inVm = Files.createDirectories(vm.resolve("target/guest-lib")).resolve("a.jar");
        Path b = Files.createDirectories(dir.resolve("lib")).resolve("b.jar");
        Path c = Files.createDirectories(dir.resolve("lib-x")).resolve("c.jar");
        Path cInLib = Files.createDirectories(dir.resolve("lib/sub")).resolve("c.jar");
        for (Path p : List.of(inVm, b, c, cInLib)) Files.writeString(p, "");
        Path results = Files.createDirectories(vm.resolve("target/results"));
        Path javaHome = Path.of(System.getProperty("java.home")).toAbsolutePath().normalize();
        var spec = new VmLauncher.Spec(kernel, VmLauncher.Profile.MOCK, script,
                Map.of("TEST_CLASSPATH", String.join(":", inVm.toString(), b.toString(), c.toString(), cInLib.toString(),
                                results.toString(), "/no/such/file.jar"),
                        "JAVA_OPTS", "-Dx=" + dir.resolve("lib") + " -Xmx1g",
                        "SELECT", "--select-method=a.B#c"),
                results, Duration.ofMinutes(1));
        Map<Path, Path> mounts = new ContainerLauncher(vm).readOnlyMounts(spec, results);
        assertEquals(Set.of(vm, kernelDir, dir.resolve("lib"), c, javaHome), mounts.keySet());
        mounts.forEach((at, from) -> assertTrue(Files.exists(from), from.toString()));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "(cannot read " + p + ": " + e + ")";
        }
    }

    private static String firstLine(Path p, String prefix) {
        return read(p).lines().filter(l -> l.startsWith(prefix)).findFirst().orElse("no " + prefix);
    }
}
