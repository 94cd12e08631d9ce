package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench --warmup}: the warm-up runs instead of the table, their parent JVM interpreted, variants from the environment. */
class BenchWarmupCommandTest {

    private static List<String> command(Path home, Map<String, String> env, String... args) throws Exception {
        Path target = Files.createDirectories(home.resolve("bench/target"));
        Files.writeString(target.resolve("iommufd4j-bench-" + Main.version() + ".jar"), "");
        Files.writeString(target.resolve("classpath.txt"), "/lib/a.jar\n");
        BenchCommand bench = new BenchCommand();
        new CommandLine(bench).parseArgs(args);
        return bench.command(home, home.resolve("out"), env);
    }

    @Test
    void warmupRunsTheWarmupDriverInterpretedWithTheVariantsTheEnvironmentNames(@TempDir Path home) throws Exception {
        List<String> cmd = command(home, Map.of("IOMMUFD4J_WARMUP_ALSO", "c1=-XX:TieredStopAtLevel=1; aot+serial=AOTCACHE -XX:+UseSerialGC;junk"),
                "--warmup", "--smoke");
        assertTrue(cmd.containsAll(List.of("-Xint", "-XX:+UseSerialGC")), cmd.toString());
        int main = cmd.indexOf("io.github.iommufd4j.bench.WarmupRuns");
        assertEquals(List.of("--out", home.resolve("out").toString(), "--smoke", "--also", "c1=-XX:TieredStopAtLevel=1",
                "--also", "aot+serial=AOTCACHE -XX:+UseSerialGC"), cmd.subList(main + 1, cmd.size()));
        assertFalse(cmd.contains("io.github.iommufd4j.bench.Bench"));
    }

    @Test
    void withoutWarmupTheTableRunsCompiledAsBefore(@TempDir Path home) throws Exception {
        List<String> cmd = command(home, Map.of("IOMMUFD4J_WARMUP_ALSO", "c1=-XX:TieredStopAtLevel=1"), "--full");
        assertFalse(cmd.contains("-Xint") || cmd.contains("--also"), cmd.toString());
        int main = cmd.indexOf("io.github.iommufd4j.bench.Bench");
        assertEquals(List.of("--full", "--out", home.resolve("out").toString()), cmd.subList(main + 1, cmd.size()));
    }
}
