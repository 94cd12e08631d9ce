package io.github.iommufd4j.vm;

import io.github.iommufd4j.junit.GuestConfig;
import io.github.iommufd4j.junit.GuestRun;
import io.github.iommufd4j.junit.Profile;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The fourth kind of guest: arm64 under QEMU with its SMMUv3 in nested mode and the kernel's
 * real arm-smmu-v3 driver (vm-tests/arm64), booted by {@link Arm64Launcher} through
 * iommufd4j-junit's {@link GuestRun}. Runs with {@code -Diommufd4j.vm.arch=arm64} (Maven
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
        Path vmTests = Path.of("").toAbsolutePath(); // Surefire runs in the module's directory
        Arm64Launcher withOption = new Arm64Launcher(vmTests, true);
        String why = withOption.unavailableReason();
        assumeTrue(why == null, () -> "arm64 VM tests skipped: " + why);
        // The kernel is the arm64 Image's path; the profile is ignored by the arm64 launcher.
        GuestConfig config = GuestConfig.of(withOption.kernel().toString(), Profile.MOCK).withTimeout(Duration.ofMinutes(25));
        return Stream.of(
                GuestRun.run(withOption, config, "Linux 7.3 arm64 (smmuv3)",
                        List.of("--select-class=io.github.iommufd4j.vm.guest.Smmuv3GuestTest",
                                "--select-class=io.github.iommufd4j.vm.guest.EduDmaGuestTest")).dynamicTests(),
                GuestRun.run(new Arm64Launcher(vmTests, false), config, "Linux 7.3 arm64 (smmuv3-no-canwbs)",
                        List.of("--select-method=io.github.iommufd4j.vm.guest.Smmuv3GuestTest#viommuIsRefusedWithoutCanwbs")).dynamicTests());
    }
}
