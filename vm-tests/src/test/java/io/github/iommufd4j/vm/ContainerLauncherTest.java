package io.github.iommufd4j.vm;

import io.github.iommufd4j.junit.ContainerLauncher;
import io.github.iommufd4j.junit.GuestConfig;
import io.github.iommufd4j.junit.GuestReport;
import io.github.iommufd4j.junit.GuestRun;
import io.github.iommufd4j.junit.GuestScripts;
import io.github.iommufd4j.junit.Profile;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A smoke suite through the container launcher (iommufd4j-junit's {@link ContainerLauncher}): one
 * guest (the first of {@code -Diommufd4j.vm.kernels}, 7.3 by default; mock profile) boots in QEMU
 * inside the container and runs a few contract tests against the kernel's iommufd: an IOAS map, a
 * map seen in the mock device's page table and a fault queue with triggered faults answered.
 * Skipped with the reason when no Docker engine answers or the image cannot be built;
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
        ContainerLauncher launcher = new ContainerLauncher(GuestScripts.dir());
        String why = launcher.unavailableReason();
        if (why != null) System.out.println("[vm] container launcher unavailable: " + why);
        assumeTrue(why == null, () -> "container VM tests skipped: " + why);

        String version = System.getProperty("iommufd4j.vm.kernels", "7.3").split(",")[0].trim();
        GuestReport r = GuestRun.run(launcher, GuestConfig.of(version, Profile.MOCK),
                "Linux " + version + " (mock) in a container", SELECTED.stream().map(m -> "--select-method=" + m).toList());
        Path results = r.resultsDir();
        System.out.printf("[vm] %s: guest exit %d, wall %.1fs (%s)%n", r.name(), r.exitCode(), r.wallTime().toMillis() / 1e3,
                firstLine(results.resolve(ContainerLauncher.CONTAINER_LOG), "times:"));
        String runLog = read(results.resolve(ContainerLauncher.RUN_LOG));

        List<DynamicNode> tests = new ArrayList<>();
        tests.add(DynamicTest.dynamicTest("the guest booted and passed", () -> assertEquals(0, r.exitCode(),
                "guest exit " + r.exitCode() + "\n--- run-vm.log\n" + runLog + "\n--- console tail\n" + r.consoleTail())));
        tests.add(DynamicTest.dynamicTest("every selected contract test ran", () -> assertEquals(SELECTED.size(),
                r.tests().size(), "guest test reports; console tail:\n" + r.consoleTail())));
        tests.add(r.dynamicTests());
        tests.add(DynamicTest.dynamicTest("the container's output and record are in the results", () -> {
            assertTrue(runLog.contains("[run-vm] exit "), runLog);
            String record = read(results.resolve(ContainerLauncher.CONTAINER_LOG));
            assertTrue(record.contains("image " + launcher.image()) && record.contains("times:"), record);
        }));
        return tests.stream();
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
