package io.github.iommufd4j.junit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the container launcher bind-mounts for the guest (no Docker engine needed). */
class ContainerLauncherTest {
    @Test
    void theGuestsPathsAreMountedOnceEachAndTheResultsAreNot(@TempDir Path dir) throws Exception {
        Path vm = Files.createDirectories(dir.resolve("vm"));
        Path kernelDir = Files.createDirectories(dir.resolve("kernels/7.3"));
        Path kernel = Files.writeString(kernelDir.resolve("bzImage"), "");
        Path script = Files.writeString(vm.resolve("guest-run.sh"), "");
        Path inVm = Files.createDirectories(vm.resolve("target/guest-lib")).resolve("a.jar");
        Path b = Files.createDirectories(dir.resolve("lib")).resolve("b.jar");
        Path c = Files.createDirectories(dir.resolve("lib-x")).resolve("c.jar");
        Path cInLib = Files.createDirectories(dir.resolve("lib/sub")).resolve("c.jar");
        for (Path p : List.of(inVm, b, c, cInLib)) Files.writeString(p, "");
        Path results = Files.createDirectories(vm.resolve("target/results"));
        Path javaHome = Path.of(System.getProperty("java.home")).toAbsolutePath().normalize();
        var spec = new VmLauncher.Spec(kernel, Profile.MOCK, script,
                Map.of("TEST_CLASSPATH", String.join(":", inVm.toString(), b.toString(), c.toString(), cInLib.toString(),
                                results.toString(), "/no/such/file.jar"),
                        "JAVA_OPTS", "-Dx=" + dir.resolve("lib") + " -Xmx1g",
                        "SELECT", "--select-method=a.B#c"),
                results, Duration.ofMinutes(1));
        Map<Path, Path> mounts = new ContainerLauncher(vm).readOnlyMounts(spec, results);
        assertEquals(Set.of(vm, kernelDir, dir.resolve("lib"), c, javaHome), mounts.keySet());
        mounts.forEach((at, from) -> assertTrue(Files.exists(from), from.toString()));
    }
}
