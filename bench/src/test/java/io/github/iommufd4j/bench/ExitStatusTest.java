package io.github.iommufd4j.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bench's exit status: 1 with the row and the reason in the notes when a baseline could not
 * run, 0 otherwise; and how CBaseline turns each way a baseline can fail into such a reason (the
 * programs here are scripts standing in for the C baselines).
 */
class ExitStatusTest {
    private static final Environment ENV = new Environment("Linux 7.3.0", "7.3.0", "Some CPU", "none (bare host)", "JDK", 2);
    private static final double[] THREE = {1, 2, 3};

    private static Report report(Row... rows) {
        return new Report("quick", 3, ENV, "native", List.of(rows), List.of(), 1);
    }

    @Test
    void everyBaselineRanExitsZero() {
        Report r = report(Row.pair("map+unmap 4 KiB, Java vs C", "ns/pair", "Java", THREE, "C", THREE, null, null).notRun(null),
                Row.single("heap", "MiB", "software", new double[] {80}, null, null));
        assertEquals(0, r.exitStatus());
        assertTrue(r.notRun().isEmpty());
        assertTrue(r.text().contains("exit status 0"), r.text());
        assertTrue(r.json().contains("\"exit_status\": 0"), r.json());
    }

    @Test
    void aRowWithoutItsBaselineExitsOneAndTheNotesNameTheRowAndWhy() {
        Row ok = Row.pair("faults, 1 queue, 1 trigger: Java blocking vs C blocking", "ns/fault", "Java", THREE, "C", THREE, null, null);
        Row missing = Row.pair("map+unmap 4 KiB, software vs kernel mock", "ops/s", "software", THREE, "kernel mock",
                new double[] {Double.NaN, Double.NaN, Double.NaN}, Row.Target.ratioAtLeast(5), null).notRun("the kernel mock: not measured");
        Report r = report(ok, missing);
        assertEquals(1, r.exitStatus());
        assertEquals(List.of(missing), r.notRun());
        assertEquals("not run", missing.verdict());
        assertEquals("", ok.verdict());
        assertTrue(r.text().contains("NOT RUN: map+unmap 4 KiB, software vs kernel mock: the kernel mock: not measured"), r.text());
        assertTrue(r.text().contains("exit status 1: 1 rows miss a baseline"), r.text());
        assertTrue(r.json().contains("\"exit_status\": 1"), r.json());
        assertTrue(r.json().contains("\"not_run\": \"the kernel mock: not measured\""), r.json());
        assertTrue(r.properties().contains("exit=1"), r.properties());
    }

    @Test
    void aRowNamesTheFirstReason() {
        assertEquals("a", Bench.first("a", "b"));
        assertEquals("b", Bench.first(null, "b"));
        assertNull(Bench.first(null, null));
    }

    @Test
    void aBaselineThatRunsYieldsItsFigures(@TempDir Path dir) throws Exception {
        script(dir, "map_unmap", "echo ns_per_pair=123.5 pairs=$2");
        var o = new CBaseline(dir).run("map_unmap", "--pairs", 42);
        assertNull(o.failure());
        assertEquals(123.5, o.number("ns_per_pair"));
        assertEquals(42, o.number("pairs"));
        assertTrue(Double.isNaN(o.number("absent")));
    }

    @Test
    void aFailingBaselineIsAReasonNotAnException(@TempDir Path dir) throws Exception {
        script(dir, "faults", "echo 'faults.c:10: ioctl: Operation not permitted' >&2; exit 1");
        var o = new CBaseline(dir).run("faults", "--mode", "uring-poll");
        assertEquals("C faults --mode uring-poll: exit 1: faults.c:10: ioctl: Operation not permitted", o.failure());
        assertTrue(Double.isNaN(o.number("faults_per_s")));
    }

    @Test
    void nothingToMeasureIsAReason(@TempDir Path dir) throws Exception {
        script(dir, "map_unmap", "echo '/dev/iommu: No such file or directory' >&2; exit 3");
        assertEquals("C map_unmap --size 4096: nothing to measure here: /dev/iommu: No such file or directory",
                new CBaseline(dir).run("map_unmap", "--size", 4096).failure());
    }

    @Test
    void aMissingOrUnbuiltBaselineIsAReason(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("faults.missing"), "liburing-dev is not installed: the C baseline faults is not built\n");
        assertEquals("C faults --mode blocking: liburing-dev is not installed: the C baseline faults is not built",
                new CBaseline(dir).run("faults", "--mode", "blocking").failure());
        assertEquals("C map_unmap: not built (" + dir.resolve("map_unmap") + ")", new CBaseline(dir).run("map_unmap").failure());
    }

    @Test
    void aHangingBaselineTimesOut(@TempDir Path dir) throws Exception {
        script(dir, "faults", "exec sleep 60");
        assertEquals("C faults: timed out after 1 s", new CBaseline(dir, 1).run("faults").failure());
    }

    private static void script(Path dir, String name, String body) throws Exception {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
