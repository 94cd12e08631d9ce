package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The command line: exit status, messages, help, and the demo's output on this host's backend. */
class MainTest {

    /** What one run printed and returned. */
    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = Main.run(args);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Exit 2, nothing on stdout, one line saying what is wrong (naming {@code about}), then the usage. */
    private static void assertUsageError(Run r, String command, String about) {
        assertEquals(2, r.exit(), r.toString());
        assertEquals("", r.out(), "nothing on stdout");
        List<String> lines = r.err().lines().toList();
        assertTrue(lines.getFirst().startsWith(command + ": "), r.err());
        assertTrue(lines.getFirst().contains(about), r.err());
        int usage = lines.get(1).startsWith("Did you mean") ? 2 : 1; // picocli's suggestion for a misspelt name
        assertTrue(lines.get(usage).startsWith("Usage: " + command), r.err());
        assertTrue(lines.getLast().startsWith("Try '" + command + " --help'"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"abc", "-1", "0", "2000000000", "10000001", "99999999999", "1.5"})
    void badFaultCountsAreUsageErrors(String value) {
        assertUsageError(run("demo", "--faults", value), "iommufd4j demo", "'--faults'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-3", "65", "x"})
    void badDeviceCountsAreUsageErrors(String value) {
        assertUsageError(run("demo", "--devices", value), "iommufd4j demo", "'--devices'");
    }

    @Test
    void unknownOptionsAndMissingValuesAreUsageErrors() {
        assertUsageError(run("demo", "--bogus"), "iommufd4j demo", "'--bogus'");
        assertUsageError(run("demo", "--faults"), "iommufd4j demo", "'--faults'");
        assertUsageError(run("demo", "--json", "extra"), "iommufd4j demo", "'extra'");
        assertUsageError(run("fault-modes", "--bursts", "0"), "iommufd4j fault-modes", "'--bursts'");
        assertUsageError(run("bench", "--smoke", "--full"), "iommufd4j bench", "mutually exclusive");
    }

    @Test
    void unknownAndMissingCommandsAreUsageErrors() {
        assertUsageError(run("no-such-command"), "iommufd4j", "unknown command 'no-such-command'");
        assertUsageError(run(), "iommufd4j", "a command is missing");
        assertUsageError(run("vm"), "iommufd4j vm", "missing");
        assertUsageError(run("vm", "--kernel", "5.4", "demo"), "iommufd4j vm", "'--kernel'");
        assertUsageError(run("vm", "demo", "--faults", "0"), "iommufd4j vm demo", "'--faults'");
    }

    @Test
    void backendOptionsAreCheckedAndMapToTheLibrarysProperties() {
        assertUsageError(run("--backend", "kernel", "info"), "iommufd4j", "'--backend'");
        assertUsageError(run("demo", "--software-kernel", "6.1"), "iommufd4j demo", "'--software-kernel'");
        Run r = run("--backend", "SOFTWARE", "--software-kernel", "6.12", "info");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("backend: software (") && r.out().contains("6.12"), r.out());
        // 6.12 has no IOMMU_VIOMMU_ALLOC (6.13); the software backend reproduces that.
        assertTrue(r.out().matches("(?s).*IOMMU_VIOMMU_ALLOC\\s+missing.*"), r.out());
        assertNull(System.getProperty(Iommufd.BACKEND_PROPERTY), "the property is restored after the run");
        assertTrue(run("info", "--backend", "software").out().contains("backend: software"), "also after the command");
    }

    @Test
    void workThatCannotRunExitsOneWithOneLine() {
        assumeFalse(Iommufd.availability().available(), "this host's kernel iommufd works");
        Run r = run("demo", "--backend", "native");
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("iommufd4j demo: open(/dev/iommu)"), r.err());
    }

    @Test
    void helpOnEveryCommandAndVersionExitZero() {
        for (List<String> cmd : List.<List<String>>of(List.of(), List.of("info"), List.of("demo"), List.of("fault-modes"), List.of("bench"),
                List.of("vm"), List.of("vm", "demo"), List.of("vm", "bench"), List.of("jshell"))) {
            for (String help : List.of("--help", "-h")) {
                String[] args = java.util.stream.Stream.concat(cmd.stream(), java.util.stream.Stream.of(help)).toArray(String[]::new);
                Run r = run(args);
                assertEquals(0, r.exit(), cmd + " " + help + ": " + r);
                assertTrue(r.out().startsWith("Usage: iommufd4j" + (cmd.isEmpty() ? "" : " " + String.join(" ", cmd))), r.out());
                assertEquals("", r.err());
            }
        }
        Run help = run("help", "demo");
        assertEquals(0, help.exit());
        assertTrue(help.out().contains("--faults=N"), help.out());
        Run version = run("--version");
        assertEquals(0, version.exit());
        assertTrue(version.out().matches("(?s)iommufd4j \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\\nJava 25.*"), version.out());
    }

    @Test
    void demoJsonParsesAndHandlesEveryFault() {
        Run r = run("demo", "--json", "--faults", "3000", "--devices", "3");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err(), "quiet: no progress when stdout is not a terminal");
        Map<String, Object> demo = JsonParser.object(r.out().strip());
        assertEquals(3000.0, demo.get("faults"));
        assertEquals(3.0, demo.get("devices"));
        assertEquals(true, demo.get("dma_checked"));
        assertEquals(0.0, demo.get("handler_errors"));
        assertInstanceOf(String.class, demo.get("backend"));
        assertInstanceOf(String.class, demo.get("reason"));
        for (String k : List.of("groups", "batches", "p50_us", "p99_us", "faults_per_s")) {
            assertTrue((double) demo.get(k) > 0, k + " in " + r.out());
        }
        Run table = run("demo", "--faults", "500");
        assertEquals(0, table.exit(), table.toString());
        assertTrue(table.out().contains("faults          500"), table.out());
        assertTrue(table.out().contains("latency p99"), table.out());
    }

    @Test
    void failedChecksAreNamed() {
        var good = new Demo.Result("software", "r", 1, 100, 100, 10, 1, 2, 3, true, 0);
        assertEquals(List.of(), DemoCommand.failures(good, 100));
        var bad = new Demo.Result("software", "r", 1, 90, 90, 10, 1, 2, 3, false, 2);
        List<String> failed = DemoCommand.failures(bad, 100);
        assertEquals(3, failed.size(), failed.toString());
        assertTrue(failed.get(0).contains("DMA check failed"));
        assertTrue(failed.get(1).contains("90 of 100"));
        assertTrue(failed.get(2).contains("2 errors"));
    }

    @Test
    void guestCommandsRepeatTheParsedOptions() {
        String old = System.getProperty(Iommufd.BACKEND_PROPERTY);
        var parsed = Main.commandLine().parseArgs("--backend", "native", "vm", "--kernel", "6.12", "demo", "--json", "--faults", "77", "--install");
        var leaf = parsed.subcommand().subcommand().commandSpec();
        try {
            assertEquals(List.of("--backend", "NATIVE", "demo", "--json", "--faults", "77"), VmCommand.guestArgs(leaf));
        } finally {
            if (old == null) System.clearProperty(Iommufd.BACKEND_PROPERTY);
            else System.setProperty(Iommufd.BACKEND_PROPERTY, old);
        }
        assertEquals("6.12", ((VmCommand) leaf.parent().userObject()).kernel);
        assertEquals("'a b'\\''c'", VmCommand.shellQuote("a b'c"));
        assertEquals("/x/y-1.jar:z", VmCommand.shellQuote("/x/y-1.jar:z"));
    }
}
