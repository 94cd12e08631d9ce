package io.github.iommufd4j.bench;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/** The table as text and as JSON, with the environment it was measured in and the run's exit status. */
record Report(String mode, int reps, Environment env, String backend, List<Row> rows, List<String> notes, double seconds) {

    /** 0 when every row's baselines ran, 1 when one could not (the notes say which row and why). */
    int exitStatus() {
        return notRun().isEmpty() ? 0 : 1;
    }

    /** The rows missing a baseline. */
    List<Row> notRun() {
        return rows.stream().filter(r -> r.notRun() != null).toList();
    }

    String text() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "iommufd4j bench (%s, median of %d, %.0f s)  kernel: %s  QEMU: %s  JDK: %s  CPUs: %d  Java backend: %s%n",
                mode, reps, seconds, env.kernel(), env.qemu(), env.jdk(), env.cpus(), backend));
        String fmt = "%-66s %-11s %-30s %-26s %7s %-13s  %-16s %s%n";
        b.append(String.format(Locale.ROOT, fmt, "benchmark", "unit", "A", "B", "A/B", "spread", "target", "verdict"));
        for (Row r : rows) {
            b.append(String.format(Locale.ROOT, fmt, r.name(), r.unit(), figure(r.aLabel(), r.a()),
                    r.isPair() ? figure(r.bLabel(), r.b()) : "", r.isPair() ? number(r.ratio(), 3) : "", spread(r),
                    r.target() == null ? "" : r.target().text(), r.verdict()));
        }
        for (Row r : rows) {
            if (r.note() != null) b.append("  ").append(r.name()).append(": ").append(r.note()).append('\n');
        }
        for (String n : notes) b.append("  ").append(n).append('\n');
        for (Row r : notRun()) b.append("  NOT RUN: ").append(r.name()).append(": ").append(r.notRun()).append('\n');
        b.append(exitStatus() == 0 ? "  exit status 0: every baseline ran\n"
                : "  exit status 1: " + notRun().size() + " rows miss a baseline (NOT RUN above)\n");
        return b.toString();
    }

    /** The spread column: the ratios' lowest-highest for a pair, A's for a single figure; one figure when measured once. */
    static String spread(Row r) {
        Spread s = r.spread();
        int decimals = r.isPair() ? 3 : Math.abs(s.max()) >= 100 ? 0 : 2;
        return s.n() == 1 ? "(1 run)" : s.range(decimals);
    }

    String json() {
        StringBuilder b = new StringBuilder("{\n");
        b.append("  \"mode\": ").append(str(mode)).append(",\n");
        b.append("  \"repetitions\": ").append(reps).append(",\n");
        b.append("  \"seconds\": ").append(num(seconds)).append(",\n");
        b.append("  \"kernel\": ").append(str(env.kernel())).append(",\n");
        b.append("  \"kernel_release\": ").append(str(env.release())).append(",\n");
        b.append("  \"cpu_model\": ").append(str(env.cpuModel())).append(",\n");
        b.append("  \"qemu\": ").append(str(env.qemu())).append(",\n");
        b.append("  \"jdk\": ").append(str(env.jdk())).append(",\n");
        b.append("  \"cpus\": ").append(env.cpus()).append(",\n");
        b.append("  \"java_backend\": ").append(str(backend)).append(",\n");
        b.append("  \"exit_status\": ").append(exitStatus()).append(",\n");
        b.append("  \"notes\": [");
        for (int i = 0; i < notes.size(); i++) b.append(i > 0 ? ", " : "").append(str(notes.get(i)));
        b.append("],\n");
        b.append("  \"rows\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            Spread s = r.spread();
            b.append("    {\"name\": ").append(str(r.name())).append(", \"unit\": ").append(str(r.unit()))
                    .append(", \"a_label\": ").append(str(r.aLabel())).append(", \"a\": ").append(num(r.a()))
                    .append(", \"a_reps\": ").append(nums(r.aReps()))
                    .append(", \"b_label\": ").append(str(r.bLabel())).append(", \"b\": ").append(num(r.b()))
                    .append(", \"b_reps\": ").append(r.isPair() ? nums(r.bReps()) : "null")
                    .append(", \"ratio\": ").append(num(r.ratio()))
                    // Of the per-repetition ratios for a pair, of A for a single figure.
                    .append(", \"spread_min\": ").append(num(s.min())).append(", \"spread_max\": ").append(num(s.max()))
                    .append(", \"target\": ").append(str(r.target() == null ? null : r.target().text()))
                    .append(", \"verdict\": ").append(str(r.verdict())).append(", \"note\": ").append(str(r.note()))
                    .append(", \"not_run\": ").append(str(r.notRun()))
                    .append(i + 1 < rows.size() ? "},\n" : "}\n");
        }
        return b.append("  ]\n}\n").toString();
    }

    /** What the command line records in bench/RESULTS.md besides the table (it adds the host's side). */
    String properties() {
        Properties p = new Properties();
        p.setProperty("mode", mode);
        p.setProperty("repetitions", String.valueOf(reps));
        p.setProperty("kernel", env.release());
        p.setProperty("cpu", env.cpuModel());
        p.setProperty("qemu", env.qemu());
        p.setProperty("backend", backend);
        p.setProperty("exit", String.valueOf(exitStatus()));
        StringWriter w = new StringWriter();
        try {
            p.store(w, "iommufd4j bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }

    /** Writes bench.txt, bench.json, bench.png and bench.properties into {@code dir}. */
    void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("bench.txt"), text());
        Files.writeString(dir.resolve("bench.json"), json());
        Files.writeString(dir.resolve("bench.properties"), properties());
        Chart.write(this, dir.resolve("bench.png"));
    }

    static String figure(String label, double v) {
        return label + " " + (Double.isNaN(v) ? "n/a" : number(v, v >= 100 ? 0 : 2));
    }

    static String number(double v, int decimals) {
        if (Double.isNaN(v) || Double.isInfinite(v)) return "n/a";
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static String num(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "null" : String.format(Locale.ROOT, "%.4f", v);
    }

    private static String nums(double[] v) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) b.append(i > 0 ? ", " : "").append(num(v[i]));
        return b.append(']').toString();
    }

    private static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
