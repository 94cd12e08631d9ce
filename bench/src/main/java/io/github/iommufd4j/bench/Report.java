package io.github.iommufd4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The table as text and as JSON, with the environment it was measured in. */
record Report(String mode, Environment env, String backend, List<Row> rows, List<String> notes, double seconds) {

    String text() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "iommufd4j bench (%s, %.0f s)  kernel: %s  QEMU: %s  JDK: %s  CPUs: %d  Java backend: %s%n",
                mode, seconds, env.kernel(), env.qemu(), env.jdk(), env.cpus(), backend));
        String fmt = "%-66s %-11s %-30s %-26s %7s  %-16s %s%n";
        b.append(String.format(Locale.ROOT, fmt, "benchmark", "unit", "A", "B", "A/B", "target", "verdict"));
        for (Row r : rows) {
            b.append(String.format(Locale.ROOT, fmt, r.name(), r.unit(), figure(r.aLabel(), r.a()),
                    r.isPair() ? figure(r.bLabel(), r.b()) : "", r.isPair() ? number(r.ratio(), 3) : "",
                    r.target() == null ? "" : r.target().text(), r.verdict()));
        }
        for (Row r : rows) {
            if (r.note() != null) b.append("  ").append(r.name()).append(": ").append(r.note()).append('\n');
        }
        for (String n : notes) b.append("  ").append(n).append('\n');
        return b.toString();
    }

    String json() {
        StringBuilder b = new StringBuilder("{\n");
        b.append("  \"mode\": ").append(str(mode)).append(",\n");
        b.append("  \"seconds\": ").append(num(seconds)).append(",\n");
        b.append("  \"kernel\": ").append(str(env.kernel())).append(",\n");
        b.append("  \"qemu\": ").append(str(env.qemu())).append(",\n");
        b.append("  \"jdk\": ").append(str(env.jdk())).append(",\n");
        b.append("  \"cpus\": ").append(env.cpus()).append(",\n");
        b.append("  \"java_backend\": ").append(str(backend)).append(",\n");
        b.append("  \"notes\": [");
        for (int i = 0; i < notes.size(); i++) b.append(i > 0 ? ", " : "").append(str(notes.get(i)));
        b.append("],\n");
        b.append("  \"rows\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            b.append("    {\"name\": ").append(str(r.name())).append(", \"unit\": ").append(str(r.unit()))
                    .append(", \"a_label\": ").append(str(r.aLabel())).append(", \"a\": ").append(num(r.a()))
                    .append(", \"b_label\": ").append(str(r.bLabel())).append(", \"b\": ").append(num(r.b()))
                    .append(", \"ratio\": ").append(num(r.ratio()))
                    .append(", \"target\": ").append(str(r.target() == null ? null : r.target().text()))
                    .append(", \"verdict\": ").append(str(r.verdict())).append(", \"note\": ").append(str(r.note()))
                    .append(i + 1 < rows.size() ? "},\n" : "}\n");
        }
        return b.append("  ]\n}\n").toString();
    }

    /** Writes bench.txt, bench.json and bench.png into {@code dir}. */
    void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("bench.txt"), text());
        Files.writeString(dir.resolve("bench.json"), json());
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
