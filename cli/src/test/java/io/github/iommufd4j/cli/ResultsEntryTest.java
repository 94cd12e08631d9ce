package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The entry a bench run appends to bench/RESULTS.md: its fields, not its timings. */
class ResultsEntryTest {
    private static final Instant DATE = Instant.parse("2026-12-07T05:41:09.123Z");
    private static final String TABLE = """
            iommufd4j bench (quick, median of 3, 300 s)  kernel: Linux 7.3.0
            map+unmap 4 KiB, Java vs C   ns/pair   Java native 2000   C 1900   1.053 1.020-1.100
            """;

    @Test
    void theEntryCarriesEveryFieldThenTheTable() {
        ResultsEntry e = new ResultsEntry(DATE, "059fea8+dirty", "7.3.0", "QEMU TCG CPU version 2.5+", "TCG single-threaded", "QEMU 10.0.2",
                "native", "quick", 3, 1, "not loaded: 1-minute load average over the run mean 0.9", TABLE);
        List<String> lines = e.markdown().lines().toList();
        assertEquals("## 2026-12-07 05:41 UTC, kernel 7.3.0, TCG single-threaded, 059fea8+dirty", lines.get(0));
        assertEquals("", lines.get(1));
        assertTrue(lines.contains("- date: 2026-12-07T05:41:09Z"), e.markdown());
        assertTrue(lines.contains("- commit: 059fea8+dirty"), e.markdown());
        assertTrue(lines.contains("- kernel: 7.3.0"), e.markdown());
        assertTrue(lines.contains("- CPU: QEMU TCG CPU version 2.5+"), e.markdown());
        assertTrue(lines.contains("- QEMU: TCG single-threaded (QEMU 10.0.2)"), e.markdown());
        assertTrue(lines.contains("- backend: native"), e.markdown());
        assertTrue(lines.contains("- mode: quick, median of 3 repetitions"), e.markdown());
        assertTrue(lines.contains("- exit status: 1 (a baseline could not run: NOT RUN in the notes)"), e.markdown());
        assertTrue(lines.contains("- host load: not loaded: 1-minute load average over the run mean 0.9"), e.markdown());
        int fence = lines.indexOf("```text");
        assertTrue(fence > 0, e.markdown());
        assertEquals(TABLE.strip().lines().toList(), lines.subList(fence + 1, lines.size() - 1));
        assertEquals("```", lines.getLast());
    }

    @Test
    void readsTheBenchsSideAndAddsTheHostsThenAppends(@TempDir Path dir) throws Exception {
        Path bench = Files.createDirectories(dir.resolve("bench"));
        Files.writeString(bench.resolve("bench.properties"), """
                mode=quick
                repetitions=3
                kernel=6.12.0
                cpu=QEMU TCG CPU version 2.5+
                qemu=QEMU emulator version 10.0.2
                backend=native
                exit=0
                """);
        Files.writeString(bench.resolve("bench.txt"), TABLE);
        ResultsEntry e = ResultsEntry.read(bench, dir, "TCG single-threaded", "load", DATE);
        assertEquals("6.12.0", e.kernel());
        assertEquals("native", e.backend());
        assertEquals(3, e.repetitions());
        assertEquals(0, e.exitStatus());
        assertEquals("TCG single-threaded", e.qemuMode());
        assertEquals("QEMU emulator version 10.0.2", e.qemuVersion());
        assertTrue(e.markdown().contains("\n- QEMU: TCG single-threaded (QEMU emulator version 10.0.2)\n"), e.markdown());
        assertTrue(e.cpu().startsWith("QEMU TCG CPU version 2.5+ as the guest sees it; the host's: "), e.cpu());
        assertEquals("unknown (not a git checkout)", e.commit()); // a temporary directory
        assertEquals(TABLE, e.table());

        Path results = dir.resolve("RESULTS.md");
        e.appendTo(results);
        e.appendTo(results);
        String md = Files.readString(results);
        assertTrue(md.startsWith(ResultsEntry.HEADER), md);
        assertEquals(2, md.lines().filter(l -> l.startsWith("## 2026-12-07 05:41 UTC, kernel 6.12.0")).count(), md);
        assertTrue(md.endsWith("```\n"), md);
        // On this host: the bench's CPU model stands alone.
        assertEquals("QEMU TCG CPU version 2.5+", ResultsEntry.read(bench, dir, "host", "load", DATE).cpu());
        ResultsEntry onHost = ResultsEntry.read(bench, dir, "host", "load", DATE);
        assertEquals("host", onHost.qemuMode());
        assertTrue(onHost.markdown().contains("\n- QEMU: host\n"), onHost.markdown());
    }

    @Test
    void theCommitIsTheShortHashAndDirtyWhenATrackedFileChanged(@TempDir Path dir) throws Exception {
        git(dir, "init", "-q");
        Files.createDirectories(dir.resolve("bench"));
        Files.writeString(dir.resolve("a.txt"), "a\n");
        Files.writeString(dir.resolve("bench/RESULTS.md"), "# r\n");
        git(dir, "add", ".");
        git(dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one");
        String hash = new String(new ProcessBuilder("git", "-C", dir.toString(), "rev-parse", "--short", "HEAD").start()
                .getInputStream().readAllBytes()).strip();
        assertTrue(hash.matches("[0-9a-f]{7,}"), hash);
        assertEquals(hash, ResultsEntry.commit(dir));
        Files.writeString(dir.resolve("untracked.txt"), "x\n");
        Files.writeString(dir.resolve("bench/RESULTS.md"), "# r\nan entry\n");
        assertEquals(hash, ResultsEntry.commit(dir), "untracked files and the results file itself are not a change");
        Files.writeString(dir.resolve("a.txt"), "b\n");
        assertEquals(hash + "+dirty", ResultsEntry.commit(dir));
    }

    @Test
    void theQemuModeFromRunVmsAccelerator() {
        assertEquals("TCG single-threaded", ResultsEntry.qemuMode("tcg,thread=single\n"));
        assertEquals("TCG multi-threaded", ResultsEntry.qemuMode("tcg,thread=multi"));
        assertEquals("KVM", ResultsEntry.qemuMode("kvm"));
        assertEquals("TCG single-threaded, instruction counting (icount shift=0,sleep=off)",
                ResultsEntry.qemuMode("tcg,thread=single -icount shift=0,sleep=off\n"));
        assertEquals("QEMU (accelerator not recorded)", ResultsEntry.qemuMode(null));
    }

    @Test
    void theHostIsLoadedWhenMoreTasksRanThanCpus() {
        String loaded = ResultsEntry.HostLoad.describe(new double[] {3, 4, 5}, 2, 2);
        assertTrue(loaded.startsWith("LOADED"), loaded);
        assertTrue(loaded.contains("mean 4.0, max 5.0, on 2 CPUs; 2 other QEMU guests ran on this host"), loaded);
        String quiet = ResultsEntry.HostLoad.describe(new double[] {0.5, 1.5}, 2, 0);
        assertTrue(quiet.startsWith("not loaded"), quiet);
        assertTrue(quiet.endsWith("mean 1.0, max 1.5, on 2 CPUs"), quiet);
        assertEquals("not measured", ResultsEntry.HostLoad.describe(new double[0], 2, 0));
    }

    private static void git(Path dir, String... args) throws Exception {
        var cmd = new java.util.ArrayList<>(List.of("git", "-C", dir.toString()));
        cmd.addAll(List.of(args));
        assertEquals(0, new ProcessBuilder(cmd).inheritIO().start().waitFor(), String.join(" ", cmd));
    }
}
