package io.github.iommufd4j.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs one C baseline (bench/src/main/c, built by Maven into target/c) and parses its
 * {@code key=value} result line. Exit code 3 means "nothing to measure here" (no /dev/iommu or
 * no mock driver): the figure is then missing with that reason, not an error.
 */
final class CBaseline {
    static final int UNAVAILABLE = 3;

    /** The parsed figures, or why there are none. */
    record Outcome(Map<String, String> values, String unavailable) {
        double number(String key) {
            String v = values.get(key);
            return v == null ? Double.NaN : Double.parseDouble(v);
        }
    }

    private final Path dir;

    CBaseline(Path dir) {
        this.dir = dir;
    }

    /** Every baseline built, or skipped by build.sh with its reason in {@code <program>.missing}. */
    boolean built() {
        for (String p : new String[] {"map_unmap", "faults"}) {
            if (!Files.isExecutable(dir.resolve(p)) && !Files.exists(dir.resolve(p + ".missing"))) return false;
        }
        return true;
    }

    Outcome run(String program, Object... args) throws IOException, InterruptedException {
        Path exe = dir.resolve(program);
        Path missing = dir.resolve(program + ".missing");
        if (!Files.isExecutable(exe) && Files.exists(missing)) return new Outcome(Map.of(), Files.readString(missing).trim());
        if (!Files.isExecutable(exe)) return new Outcome(Map.of(), "C baseline not built: " + exe);
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        for (Object a : args) cmd.add(String.valueOf(a));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        p.getOutputStream().close();
        // Outputs are one line each; reading after exit cannot block on a full pipe.
        if (!p.waitFor(30, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + ": timed out");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.exitValue() == UNAVAILABLE) return new Outcome(Map.of(), err);
        if (p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + ": exit " + p.exitValue() + ": " + err);
        Map<String, String> values = new HashMap<>();
        for (String kv : out.split("\\s+")) {
            int eq = kv.indexOf('=');
            if (eq > 0) values.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        return new Outcome(values, null);
    }
}
