package io.github.iommufd4j.junit;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.io.IOException;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The host's replay of guest outcomes, on outcome files written as GuestMain writes them. */
class GuestReportTest {
    static final String CLASS = "[engine:junit-jupiter]/[class:a.B]";

    @Test
    void failuresComeBackWithTheirTypeMessageStackAndTheConsoleTail(@org.junit.jupiter.api.io.TempDir Path dir) throws Throwable {
        AssertionFailedError guestError = new AssertionFailedError("expected: <1> but was: <2>", 1, 2);
        GuestReport r = report(dir, List.of(
                Outcome.of(CLASS + "/[method:ok()]", CLASS, "ok()", true, Outcome.Status.SUCCESSFUL, null, null),
                Outcome.of(CLASS + "/[method:bad()]", CLASS, "bad()", true, Outcome.Status.FAILED, guestError, null),
                Outcome.of(CLASS + "/[method:skip()]", CLASS, "skip()", true, Outcome.Status.ABORTED,
                        new TestAbortedException("no PASID"), null),
                Outcome.of(CLASS, "[engine:junit-jupiter]", "B", false, Outcome.Status.SUCCESSFUL, null, null)), 1);

        r.replay(CLASS + "/[method:ok()]");
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> r.replay(CLASS + "/[method:bad()]"));
        assertEquals("expected: <1> but was: <2>", e.getMessage());
        assertEquals(2, e.getActual().getValue());
        assertArrayEquals(guestError.getStackTrace(), e.getStackTrace());
        assertEquals(1, e.getSuppressed().length);
        assertTrue(e.getSuppressed()[0].getMessage().contains("console line 2"), e.getSuppressed()[0].getMessage());
        TestAbortedException a = assertThrows(TestAbortedException.class, () -> r.replay(CLASS + "/[method:skip()]"));
        assertTrue(a.getMessage().endsWith("no PASID"), a.getMessage());
        assertEquals(List.of("B.ok()", "B.bad()", "B.skip()"), r.tests().stream().map(r::testName).toList());
    }

    @Test
    void aTestTheGuestDidNotRunFailsWithItsContainersFailureOrTheExitCode(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        GuestReport failedSetUp = report(dir.resolve("a"), List.of(Outcome.of(CLASS, "[engine:junit-jupiter]", "B", false,
                Outcome.Status.FAILED, new IllegalStateException("@BeforeAll threw"), null)), 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> failedSetUp.replay(CLASS + "/[method:x()]"));
        assertEquals("@BeforeAll threw", e.getMessage());

        GuestReport crashed = report(dir.resolve("b"), List.of(), 125);
        AssertionFailedError f = assertThrows(AssertionFailedError.class, () -> crashed.replay(CLASS + "/[method:x()]"));
        assertTrue(f.getMessage().contains("guest exit 125") && f.getMessage().contains("console line 2"), f.getMessage());
        assertFalse(crashed.completed());
    }

    @Test
    void anExceptionThatCannotBeSerializedComesBackAsItsPrintedTrace(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        RuntimeException notSerializable = new RuntimeException("boom") {
            final Object field = new Object(); // not serializable
        };
        GuestReport r = report(dir, List.of(Outcome.of(CLASS + "/[method:m()]", CLASS, "m()", true,
                Outcome.Status.FAILED, notSerializable, null)), 1);
        AssertionError e = assertThrows(AssertionError.class, () -> r.replay(CLASS + "/[method:m()]"));
        assertTrue(e.getMessage().contains("boom") && e.getMessage().contains("GuestReportTest"), e.getMessage());
    }

    private static GuestReport report(Path dir, List<Outcome> outcomes, int exit) throws IOException {
        Files.createDirectories(dir);
        try (var out = new ObjectOutputStream(Files.newOutputStream(dir.resolve("outcomes.bin")))) {
            for (Outcome o : outcomes) out.writeObject(o);
        }
        Path console = Files.writeString(dir.resolve("console.log"), "console line 1\nconsole line 2\n");
        return GuestReport.read("B, Linux 7.3 (mock)", new VmLauncher.Result(exit, console, Duration.ofSeconds(1)), dir);
    }
}
