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
 * {@code key=value} result line. A baseline that could not run (not built, exit code 3 "nothing
 * to measure here": no /dev/iommu or no mock driver, any other exit code, a timeout) yields no
 * figures and the reason, naming the program and its arguments; the bench reports it in its
 * notes and exits 1, it does not stop.
 */
final class CBaseline {
    static final int UNAVAILABLE = 3;

    /** The parsed figures, or why there are none ({@code failure} is null when the baseline ran). */
    record Outcome(Map<String, String> values, String failure) {
        double number(String key) {
            String v = values.get(key);
            return v == null ? Double.NaN : Double.parseDouble(v);
        }
    }

    private final Path dir;
    private final long timeoutSeconds;

    CBaseline(Path dir) {
        this(dir, TimeUnit.MINUTES.toSeconds(30));
    }

    CBaseline(Path dir, long timeoutSeconds) {
        this.dir = dir;
        this.timeoutSeconds = timeoutSeconds;
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
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        for (Object a : args) cmd.add(String.valueOf(a));
        List<String> shown = new ArrayList<>(cmd);
        shown.set(0, "C " + program);
        String name = String.join(" ", shown);
        if (!Files.isExecutable(exe) && Files.exists(missing)) return failed(name, Files.readString(missing).trim());
        if (!Files.isExecutable(exe)) return failed(name, "not built (" + exe + ")");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        p.getOutputStream().close();
        // Outputs are one line each; reading after exit cannot block on a full pipe.
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            return failed(name, "timed out after " + timeoutSeconds + " s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim().replaceAll("\\s*\\R\\s*", "; ");
        if (p.exitValue() == UNAVAILABLE) return failed(name, "nothing to measure here: " + err);
        if (p.exitValue() != 0) return failed(name, "exit " + p.exitValue() + (err.isEmpty() ? "" : ": " + err));
        Map<String, String> values = new HashMap<>();
        for (String kv : out.split("\\s+")) {
            int eq = kv.indexOf('=');
            if (eq > 0) values.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        return new Outcome(values, null);
    }

    private static Outcome failed(String name, String why) {
        return new Outcome(Map.of(), name + ": " + why);
    }
}
