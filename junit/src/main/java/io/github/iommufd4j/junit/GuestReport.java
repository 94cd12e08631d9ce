package io.github.iommufd4j.junit;

import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/** What one guest run did: each test's and container's {@link Outcome}, the exit code and the console's tail. */
public final class GuestReport {
    /** Console lines attached to failures. */
    static final int TAIL_LINES = 60;

    private final String name;
    private final int exitCode;
    private final Duration wallTime;
    private final Map<String, Outcome> outcomes;
    private final String consoleTail;
    private final Path resultsDir;

    private GuestReport(String name, int exitCode, Duration wallTime, Map<String, Outcome> outcomes, String consoleTail,
                        Path resultsDir) {
        this.resultsDir = resultsDir;
        this.name = name;
        this.exitCode = exitCode;
        this.wallTime = wallTime;
        this.outcomes = outcomes;
        this.consoleTail = consoleTail;
    }

    static GuestReport read(String name, VmLauncher.Result r, Path results) throws IOException {
        Map<String, Outcome> outcomes = new LinkedHashMap<>();
        Path file = results.resolve("outcomes.bin");
        if (Files.isRegularFile(file) && Files.size(file) > 0) {
            try (InputStream raw = Files.newInputStream(file); ObjectInputStream in = new ObjectInputStream(raw)) {
                while (true) {
                    Outcome o = (Outcome) in.readObject();
                    outcomes.put(o.uniqueId(), o);
                }
            } catch (EOFException | java.io.StreamCorruptedException end) {
                // the end, or a guest that died while writing: what came before stands
            } catch (ClassNotFoundException e) {
                throw new IOException(e);
            }
        }
        return new GuestReport(name, r.exitCode(), r.wallTime(), outcomes, GuestRun.tail(r.console(), TAIL_LINES), results);
    }

    /**
     * Returns where the guest wrote its console, logs and outcomes.
     *
     * @return where the guest wrote its console, logs and outcomes
     */
    public Path resultsDir() {
        return resultsDir;
    }

    /**
     * Returns "Linux 7.3 (mock)", or for a {@link GuestTest} class "a.b.MyTest, Linux 7.3 (mock)".
     *
     * @return "Linux 7.3 (mock)", or for a {@link GuestTest} class "a.b.MyTest, Linux 7.3 (mock)"
     */
    public String name() {
        return name;
    }

    /**
     * Returns the guest command's exit code: 0 all passed, 1 failures, 124 timeout, 125 no report.
     *
     * @return the guest command's exit code: 0 all passed, 1 failures, 124 timeout, 125 no report
     */
    public int exitCode() {
        return exitCode;
    }

    /**
     * Returns the guest run's wall time.
     *
     * @return the guest run's wall time
     */
    public Duration wallTime() {
        return wallTime;
    }

    /**
     * Returns the guest console's last lines.
     *
     * @return the guest console's last lines
     */
    public String consoleTail() {
        return consoleTail;
    }

    /**
     * Returns the tests' outcomes, in execution order.
     *
     * @return the tests' outcomes, in execution order
     */
    public List<Outcome> tests() {
        return outcomes.values().stream().filter(Outcome::test).toList();
    }

    /**
     * Returns whether the guest ran to its end: its suite's exit code is 0 or 1 and it reported outcomes.
     *
     * @return whether the guest ran to its end: its suite's exit code is 0 or 1 and it reported outcomes
     */
    public boolean completed() {
        return (exitCode == 0 || exitCode == 1) && !outcomes.isEmpty();
    }

    /**
     * Replays the guest's outcome of the test {@code uniqueId}; a test the guest did not report
     * fails with the failure of its nearest failed container (e.g. a {@code @BeforeAll}) or with
     * the guest's exit code, and the console's tail.
     */
    void replay(String uniqueId) throws Throwable {
        Outcome o = outcomes.get(uniqueId);
        if (o != null) {
            o.replay(name, consoleTail);
            return;
        }
        for (String id = parentOf(uniqueId); id != null; id = parentOf(id)) {
            Outcome c = outcomes.get(id);
            if (c != null && c.status() != Outcome.Status.SUCCESSFUL) {
                c.replay(name, consoleTail);
            }
        }
        fail("no outcome from the guest for " + uniqueId + " (" + name + ": guest exit " + exitCode + ", "
                + tests().size() + " tests reported); guest console tail:\n" + consoleTail);
    }

    /** Replays the container {@code uniqueId}'s own failure (e.g. a test factory that threw in the guest). */
    void replayContainer(String uniqueId) throws Throwable {
        Outcome o = outcomes.get(uniqueId);
        if (o != null && o.status() != Outcome.Status.SUCCESSFUL) o.replay(name, consoleTail);
        if (o == null) replay(uniqueId); // not run: its container's failure, or the guest's exit
    }

    /** The guest's nodes under {@code parentId}, as dynamic nodes (for a {@code @TestFactory} replayed on the host). */
    Stream<DynamicNode> children(String parentId) {
        List<DynamicNode> nodes = new ArrayList<>();
        for (Outcome o : outcomes.values()) {
            if (!parentId.equals(o.parentId())) continue;
            if (o.test()) nodes.add(DynamicTest.dynamicTest(o.displayName(), () -> o.replay(name, consoleTail)));
            else nodes.add(DynamicContainer.dynamicContainer(o.displayName(), children(o.uniqueId())));
        }
        return nodes.stream();
    }

    /**
     * Every guest test as a dynamic test named {@code Class.test} (with its invocation), in a
     * container named after the guest; a guest that did not complete adds a failing "guest run" test.
     *
     * @return the container
     */
    public DynamicContainer dynamicTests() {
        List<DynamicNode> nodes = new ArrayList<>();
        for (Outcome o : tests()) nodes.add(DynamicTest.dynamicTest(testName(o), () -> o.replay(name, consoleTail)));
        if (!completed()) {
            nodes.add(DynamicTest.dynamicTest("guest run", () -> fail(name + ": guest exit " + exitCode + " and "
                    + tests().size() + " test reports; guest console tail:\n" + consoleTail)));
        }
        return DynamicContainer.dynamicContainer(name, nodes);
    }

    /** The test's display name under its class's simple name, e.g. {@code IoasTest.mapsMemory()}. */
    String testName(Outcome o) {
        StringBuilder s = new StringBuilder(o.displayName());
        for (String id = o.parentId(); id != null; ) {
            Outcome p = outcomes.get(id);
            if (p == null || p.parentId() == null) break;
            boolean isClass = id.endsWith("]") && id.substring(id.lastIndexOf("/[") + 2).matches("(nested-)?class:.*");
            s.insert(0, p.displayName() + (isClass ? "." : " "));
            if (isClass && !id.substring(id.lastIndexOf("/[") + 2).startsWith("nested-")) break;
            id = p.parentId();
        }
        return s.toString();
    }

    private static String parentOf(String uniqueId) {
        int i = uniqueId.lastIndexOf("/[");
        return i < 0 ? null : uniqueId.substring(0, i);
    }
}
