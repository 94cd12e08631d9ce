package io.github.iommufd4j.vm;

import io.github.iommufd4j.junit.GuestConfig;
import io.github.iommufd4j.junit.GuestReport;
import io.github.iommufd4j.junit.GuestRun;
import io.github.iommufd4j.junit.Profile;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Boots guests per kernel (6.12 and 7.3) through iommufd4j-junit's {@link GuestRun}: the mock
 * profile runs the contract suite (and the fault pump's) against the kernel's iommufd and its
 * mock driver; the intel profile runs the VM-only tests (VFIO cdev edu device, DMA through the
 * Intel vIOMMU), and so does the virtio profile (virtio-iommu). With
 * {@code -Diommufd4j.vm.reliability=true} (Maven profile {@code reliability}) a further
 * mock-profile guest per kernel runs the reliability suite. Every guest test is reported as a
 * test of its own here, so a failure names the guest test and shows the guest console's tail.
 *
 * <p>Select kernels with {@code -Diommufd4j.vm.kernels=7.3,6.12}; {@code -Diommufd4j.vm.skip=true}
 * skips the VM tests. Without QEMU they are skipped with the reason. {@code
 * -Diommufd4j.vm.launcher=container} runs QEMU in a container.
 */
class GuestSuiteTest {

    @TestFactory
    Stream<DynamicNode> contractSuiteInTheGuest() throws Exception {
        List<String> kernels = List.of(System.getProperty("iommufd4j.vm.kernels", "7.3,6.12").split(","));
        List<DynamicNode> nodes = new ArrayList<>();
        for (String k : kernels) {
            String version = k.trim();
            GuestConfig mock = GuestConfig.of(version, Profile.MOCK);
            String why = GuestRun.unavailableReason(mock);
            assumeTrue(why == null, () -> "VM tests skipped: " + why);
            nodes.add(run(mock, "mock", "--select-package=io.github.iommufd4j.contract"));
            nodes.add(run(GuestConfig.of(version, Profile.INTEL), "intel", "--select-package=io.github.iommufd4j.vm.guest"));
            nodes.add(run(GuestConfig.of(version, Profile.VIRTIO), "virtio", "--select-package=io.github.iommufd4j.vm.guest"));
            if (Boolean.getBoolean("iommufd4j.vm.reliability")) {
                // The reliability suite (fail-nth sweeps, fault load, differential fuzzing, leak checks).
                nodes.add(run(mock.withJvmArgs(List.of(RELIABILITY_OPTS)), "reliability",
                        "--select-package=io.github.iommufd4j.reliability"));
                // The pump's allocation per fault and per vEVENT on the kernel's fds, with the
                // optimizing compiler (the other runs stop at C1 to save emulated CPU time; C1 keeps
                // the FFM downcalls' temporary objects), warmed up until it has compiled. C2 alone,
                // not tiered: under QEMU TCG, tiered runs (C1 code replaced by C2 code while other
                // threads run it) twice died of SIGSEGV inside C1-compiled JDK code.
                nodes.add(run(mock.withJvmArgs(List.of("-XX:TieredStopAtLevel=4 -XX:-TieredCompilation")), "allocation",
                        "--select-class=io.github.iommufd4j.pump.FaultPumpAllocationTest"));
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

    private static DynamicNode run(GuestConfig config, String suite, String select) throws Exception {
        GuestReport r = GuestRun.run(config, "Linux " + config.kernel() + " (" + suite + ")", List.of(select));
        Path log = r.resultsDir().resolve("cmd.log"); // measured figures the guest tests print
        if (Files.exists(log)) {
            for (String line : Files.readAllLines(log)) {
                if (line.contains("bytes/") || line.startsWith("[reliability]")) System.out.printf("[vm] %s: %s%n", r.name(), line.trim());
            }
        }
        return r.dynamicTests();
    }
}
