package io.github.iommufd4j.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code WarmupRuns [--out DIR] [--c DIR] [--smoke] [--also NAME=FLAGS]...}: {@link Warmup} in
 * fresh JVMs one after the other (after one not shown, which fills the page cache: plain twice;
 * recording an AOT cache; from that cache twice; then each
 * {@code --also} variant, its FLAGS separated by spaces, the word {@code AOTCACHE} standing for
 * {@code -XX:AOTCache=} the recorded file) against the C baselines run cold, and one table
 * ({@code warmup.txt} in DIR, also printed): process start to the first map+unmap, ns per pair for
 * the first {@link #SHOWN} chunks and per fault for the first rounds, the steady state (median of
 * the last chunks) and the chunk that first comes within 10% of it. Run it with nothing else
 * busy (e.g. with {@code -Xint}, so that its own JIT does not run beside the measured JVMs: under
 * QEMU's instruction counting every vCPU's instructions advance the guest's clock). Exit status 1
 * when a run failed.
 */
public final class WarmupRuns {
    /** Chunks shown one by one. */
    static final int SHOWN = 10;

    private final Path cDir;
    private final Path out;
    private final List<String> warmupArgs;
    private final List<String> failures = new ArrayList<>();

    private WarmupRuns(Path cDir, Path out, List<String> warmupArgs) {
        this.cDir = cDir;
        this.out = out;
        this.warmupArgs = warmupArgs;
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of("bench/target/bench");
        Path cDir = Path.of(System.getProperty("iommufd4j.bench.c", "bench/target/c"));
        List<String> warmupArgs = List.of("--chunks", "30", "--pairs", "10000", "--faults", "10000");
        Map<String, String> also = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--c" -> cDir = Path.of(args[++i]);
                case "--smoke" -> warmupArgs = List.of("--chunks", "4", "--pairs", "200", "--faults", "200");
                case "--also" -> {
                    String v = args[++i];
                    also.put(v.substring(0, v.indexOf('=')), v.substring(v.indexOf('=') + 1));
                }
                default -> throw new IllegalArgumentException("usage: WarmupRuns [--out DIR] [--c DIR] [--smoke] [--also NAME=FLAGS]...");
            }
        }
        Files.createDirectories(out);
        Files.deleteIfExists(out.resolve("warmup-raw.txt")); // this run's JVM outputs only
        WarmupRuns runs = new WarmupRuns(cDir, out, warmupArgs);
        String table = runs.table(also);
        Files.writeString(out.resolve("warmup.txt"), table);
        System.out.print(table);
        System.exit(runs.failures.isEmpty() ? 0 : 1);
    }

    private String table(Map<String, String> also) throws IOException, InterruptedException {
        int pairs = Integer.parseInt(arg("--pairs")), faults = Integer.parseInt(arg("--faults"));
        // On local storage (a guest's tmpfs): read from the guest's 9p share, the cache cost more
        // start-up instructions than it saved.
        Path cache = Path.of(System.getProperty("java.io.tmpdir")).resolve("iommufd4j-warmup.aot");
        Files.deleteIfExists(cache);
        // Not shown: the first JVM of a guest's boot reads the JDK and the jars over 9p (cold page
        // cache), which cost it up to 2 G instructions more than the next one.
        java(List.of(), List.of("--chunks", "1", "--pairs", "1", "--faults", "1"));
        Map<String, Map<String, String>> java = new LinkedHashMap<>();
        java.put("Java plain", java(List.of()));
        java.put("Java plain, again", java(List.of()));
        java.put("Java recording AOT cache", java(List.of("-XX:AOTCacheOutput=" + cache)));
        java.put("Java AOT cache", java(List.of("-XX:AOTCache=" + cache)));
        java.put("Java AOT cache, again", java(List.of("-XX:AOTCache=" + cache)));
        for (var e : also.entrySet()) {
            List<String> flags = new ArrayList<>();
            for (String f : e.getValue().trim().split("\\s+")) if (!f.isEmpty()) flags.add(f.equals("AOTCACHE") ? "-XX:AOTCache=" + cache : f);
            java.put("Java " + e.getKey(), java(flags));
        }
        Column c = cColumn(pairs, faults);

        List<Column> columns = new ArrayList<>(List.of(c));
        java.forEach((name, v) -> columns.add(Column.of(name, v)));
        StringBuilder sb = new StringBuilder();
        String clock = System.getenv("IOMMUFD4J_BENCH_CLOCK");
        Environment env = Environment.detect();
        sb.append(String.format(Locale.ROOT, "iommufd4j warm-up, fresh processes  kernel: %s  QEMU: %s  JDK: %s  CPUs: %d%n", env.kernel(),
                env.qemu(), env.jdk(), env.cpus()));
        sb.append(clock == null || clock.isBlank() ? "clock: the guest's (wall time)\n"
                : "clock: " + clock + ": 1 ns = one instruction run by either vCPU (JIT and GC threads included)\n");
        row(sb, "", columns, col -> col.name);
        row(sb, "process start to main, ms", columns, col -> col.mainMs);
        row(sb, "process start to first map+unmap 4 KiB, ms", columns, col -> col.firstMs);
        series(sb, "map+unmap 4 KiB, ns/pair, chunk", pairs, columns, col -> col.map);
        row(sb, "  first " + SHOWN * pairs + " pairs, ms", columns, col -> sum(col, col.map, pairs));
        steady(sb, "map+unmap", columns, col -> col.map, pairs);
        series(sb, "faults (pump, 1 queue, 1 trigger), ns/fault, round", faults, columns, col -> col.fault);
        row(sb, "  first " + SHOWN * faults + " faults, ms", columns, col -> sum(col, col.fault, faults));
        steady(sb, "faults", columns, col -> col.fault, faults);
        sb.append("  C: a fresh process each, cold (map_unmap --warmup 0, faults --mode uring-write --cold 1); its steady state warm "
                + "(after their own warm-up); its start figure is spawn to exit after one pair, seen by the parent\n");
        sb.append("  Java: steady state = median of the last ").append(Warmup.STEADY_CHUNKS).append(" of ").append(arg("--chunks"))
                .append(" chunks; reached = the first chunk within ").append(Math.round((Warmup.NEAR - 1) * 100))
                .append("% of it; time to it from process start (map+unmap) or from the first fault round (faults)\n");
        for (String f : failures) sb.append("  NOT RUN: ").append(f).append('\n');
        return sb.toString();
    }

    private String arg(String name) {
        return warmupArgs.get(warmupArgs.indexOf(name) + 1);
    }

    /** A column of the table: one process's figures (C: several processes). */
    private record Column(String name, String mainMs, String firstMs, double[] map, double[] fault) {
        static Column of(String name, Map<String, String> v) {
            if (v == null) return new Column(name, "not run", "not run", new double[0], new double[0]);
            return new Column(name, v.get("main_ms"), v.get("first_map_unmap_ms"), Warmup.numbers(v.get("map_unmap_ns")),
                    Warmup.numbers(v.get("fault_ns")));
        }
    }

    /** C: one cold process per figure; the steady state (the last chunk) from a warmed-up one. */
    private Column cColumn(int pairs, int faults) throws IOException, InterruptedException {
        CBaseline c = new CBaseline(cDir);
        long t = System.nanoTime();
        CBaseline.Outcome first = c.run("map_unmap", "--size", 4096, "--pairs", 1, "--warmup", 0);
        String firstMs = first.failure() == null ? String.format(Locale.ROOT, "%.0f", (System.nanoTime() - t) / 1e6) : "not run";
        double mapCold = number(c.run("map_unmap", "--size", 4096, "--pairs", pairs, "--warmup", 0), "ns_per_pair");
        double mapWarm = number(c.run("map_unmap", "--size", 4096, "--pairs", pairs * 5, "--warmup", pairs), "ns_per_pair");
        Object[] f = {"--mode", "uring-write", "--queues", 1, "--triggers", 1, "--faults", faults, "--batch", Sizes.BATCH, "--window", Sizes.WINDOW};
        double faultCold = 1e9 / number(c.run("faults", append(f, "--cold", 1)), "faults_per_s");
        double faultWarm = 1e9 / number(c.run("faults", f), "faults_per_s");
        failure(first);
        return new Column("C", "", firstMs, cold(mapCold, mapWarm), cold(faultCold, faultWarm));
    }

    /** C's series: the cold figure first, the warm one as the last (its steady state). */
    private static double[] cold(double cold, double warm) {
        return new double[] {cold, warm};
    }

    private static Object[] append(Object[] a, Object... more) {
        Object[] r = Arrays.copyOf(a, a.length + more.length);
        System.arraycopy(more, 0, r, a.length, more.length);
        return r;
    }

    private double number(CBaseline.Outcome o, String key) {
        failure(o);
        return o.failure() == null ? o.number(key) : Double.NaN;
    }

    private void failure(CBaseline.Outcome o) {
        if (o.failure() != null && !failures.contains(o.failure())) failures.add(o.failure());
    }

    /** One fresh JVM running {@link Warmup} with {@code flags}; its figures, or null (the failure noted). */
    private Map<String, String> java(List<String> flags) throws IOException, InterruptedException {
        return java(flags, warmupArgs);
    }

    private Map<String, String> java(List<String> flags, List<String> warmupArgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        for (String p : List.of("iommufd4j.backend", "iommufd4j.software.kernel")) {
            if (System.getProperty(p) != null) cmd.add("-D" + p + "=" + System.getProperty(p));
        }
        cmd.addAll(flags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Warmup.class.getName()));
        cmd.addAll(warmupArgs);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        Files.writeString(out.resolve("warmup-raw.txt"), String.join(" ", cmd) + "\n" + output + "\n",
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        Map<String, String> v = Warmup.parse(output);
        if (rc != 0 || v == null) {
            failures.add("java " + String.join(" ", flags) + " Warmup: exit " + rc + " (output in warmup-raw.txt)");
            return null;
        }
        return v;
    }

    private interface Cell {
        String of(Column c);
    }

    private interface Series {
        double[] of(Column c);
    }

    private static void row(StringBuilder sb, String label, List<Column> columns, Cell cell) {
        sb.append(String.format(Locale.ROOT, "%-52s", label));
        for (Column c : columns) sb.append(String.format(Locale.ROOT, " %26s", cell.of(c) == null ? "" : cell.of(c)));
        sb.append('\n');
    }

    /** The first {@link #SHOWN} chunks of each column (C: its cold figure in chunk 1). */
    private static void series(StringBuilder sb, String label, int per, List<Column> columns, Series s) {
        sb.append(label.substring(0, label.lastIndexOf(',') + 1)).append(" ").append(per).append(" each\n");
        for (int i = 0; i < SHOWN; i++) {
            int k = i;
            row(sb, "  " + label.substring(label.lastIndexOf(',') + 2) + " " + (i + 1), columns,
                    c -> c.name.equals("C") ? (k == 0 ? fmt(s.of(c)[0]) : "") : k < s.of(c).length ? fmt(s.of(c)[k]) : "");
        }
    }

    private static void steady(StringBuilder sb, String what, List<Column> columns, Series s, int per) {
        row(sb, "  " + what + " steady state, ns", columns, c -> s.of(c).length == 0 ? "" : c.name.equals("C")
                ? fmt(s.of(c)[s.of(c).length - 1]) : fmt(Warmup.Steady.of(s.of(c)).cost()));
        row(sb, "  " + what + " steady state reached at chunk", columns, c -> c.name.equals("C") || s.of(c).length == 0 ? ""
                : String.valueOf(Warmup.Steady.of(s.of(c)).reachedAt()));
        row(sb, "  " + what + " time to steady state, ms", columns, c -> {
            if (c.name.equals("C") || s.of(c).length == 0) return "";
            double ms = toSteadyMs(s.of(c), per);
            return what.equals("map+unmap") && c.firstMs != null ? fmt(ms + Double.parseDouble(c.firstMs)) : fmt(ms);
        });
        row(sb, "  " + what + " vs C at steady state", columns, c -> {
            double r = c.name.equals("C") || s.of(c).length == 0 ? Double.NaN : Warmup.Steady.of(s.of(c)).cost() / s.of(columns.getFirst())[1];
            return Double.isNaN(r) ? "" : String.format(Locale.ROOT, "%.2fx", r);
        });
    }

    /** Milliseconds spent in the chunks up to and including the one that reached the steady state. */
    static double toSteadyMs(double[] chunks, int per) {
        double ns = 0;
        for (int i = 0; i < Warmup.Steady.of(chunks).reachedAt(); i++) ns += chunks[i] * per;
        return ns / 1e6;
    }

    /** Milliseconds of the first {@link #SHOWN} chunks; C's: its cold chunk and then warm ones. */
    private static String sum(Column c, double[] chunks, int per) {
        if (c.name.equals("C") && chunks.length == 2) return fmt((chunks[0] + (SHOWN - 1) * chunks[1]) * per / 1e6);
        if (chunks.length < SHOWN) return "";
        double ns = 0;
        for (int i = 0; i < SHOWN; i++) ns += chunks[i] * per;
        return fmt(ns / 1e6);
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.0f", v);
    }
}
