package io.github.iommufd4j.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * One bench run's entry in the committed bench/RESULTS.md, so that a regression shows in review:
 * a heading with the date (UTC), the commit, the kernel (uname -r where it ran), the CPU model,
 * the QEMU mode ("host" outside a guest), the backend and the host's load, then the table. The
 * bench writes its side (bench.txt, bench.properties) where this host sees it, also from a
 * guest; the command line adds this host's side and appends the entry to the working tree.
 */
record ResultsEntry(Instant date, String commit, String kernel, String cpu, String qemuMode, String qemuVersion, String backend,
                    String mode, int repetitions, int exitStatus, String hostLoad, String table) {

    static final String HEADER = """
            # Benchmark results

            One entry per `./iommufd4j bench` or `./iommufd4j vm bench` run (not `--smoke`), appended by the
            command to this file in the working tree; commit it with the change it measured. Figures are the
            median of the run's repetitions; "spread" is the lowest-highest of the per-repetition ratios A/B
            (of A for a single figure). Under TCG compare ratios, not absolute figures. See README.md,
            "Benchmarks".
            """;

    private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    /** The entry as Markdown: heading, facts, the table as text. */
    String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("## ").append(DAY.format(date)).append(", kernel ").append(kernel).append(", ").append(qemuMode)
                .append(", ").append(commit).append("\n\n");
        b.append("- date: ").append(DateTimeFormatter.ISO_INSTANT.format(date.truncatedTo(ChronoUnit.SECONDS))).append('\n');
        b.append("- commit: ").append(commit).append('\n');
        b.append("- kernel: ").append(kernel).append('\n');
        b.append("- CPU: ").append(cpu).append('\n');
        b.append("- QEMU: ").append(qemuMode).append(qemuVersion == null ? "" : " (" + qemuVersion + ")").append('\n');
        b.append("- backend: ").append(backend).append('\n');
        b.append(String.format(Locale.ROOT, "- mode: %s, median of %d repetitions%n", mode, repetitions));
        b.append("- exit status: ").append(exitStatus)
                .append(exitStatus == 0 ? " (every baseline ran)" : " (a baseline could not run: NOT RUN in the notes)").append('\n');
        b.append("- host load: ").append(hostLoad).append("\n\n");
        b.append("```text\n").append(table.strip()).append("\n```\n");
        return b.toString();
    }

    /**
     * The entry of the run whose outputs are in {@code benchDir} (bench.properties, bench.txt),
     * measured with this host's side: the project's commit, {@code qemuMode}, {@code hostLoad}.
     */
    static ResultsEntry read(Path benchDir, Path home, String qemuMode, String hostLoad, Instant date) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(benchDir.resolve("bench.properties"), StandardCharsets.UTF_8)) {
            p.load(r);
        }
        String where = p.getProperty("cpu", "unknown");
        boolean host = qemuMode.equals("host");
        String cpu = host ? where : where + " as the guest sees it; the host's: " + cpuModel();
        return new ResultsEntry(date, commit(home), p.getProperty("kernel", "unknown"), cpu, qemuMode, host ? null : p.getProperty("qemu"),
                p.getProperty("backend", "unknown"),
                p.getProperty("mode", "unknown"), Integer.parseInt(p.getProperty("repetitions", "0")),
                Integer.parseInt(p.getProperty("exit", "1")), hostLoad, Files.readString(benchDir.resolve("bench.txt")));
    }

    /** Appends this entry to {@code file}, which is created with its header when missing. */
    void appendTo(Path file) throws IOException {
        if (!Files.exists(file)) Files.writeString(file, HEADER);
        Files.writeString(file, "\n" + markdown(), StandardOpenOption.APPEND);
    }

    /**
     * The short hash of {@code home}'s HEAD, "+dirty" when a tracked file differs from it
     * (bench/RESULTS.md itself aside: the entries are the run's output); "unknown" outside git.
     */
    static String commit(Path home) {
        String hash = git(home, "rev-parse", "--short", "HEAD");
        if (hash == null || hash.isEmpty()) return "unknown (not a git checkout)";
        String status = git(home, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/RESULTS.md");
        return status == null || !status.isEmpty() ? hash + "+dirty" : hash;
    }

    private static String git(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-C", dir.toString()));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** This host's CPU model: the first "model name" of /proc/cpuinfo. */
    static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /**
     * "TCG single-threaded", "TCG multi-threaded" or "KVM" from run-vm.sh's accelerator (its
     * results' {@code accel}), with ", instruction counting (icount shift=N)" when QEMU's clock
     * counted instructions.
     */
    static String qemuMode(String accel) {
        if (accel == null) return "QEMU (accelerator not recorded)";
        accel = accel.strip();
        if (accel.equals("kvm")) return "KVM";
        if (!accel.startsWith("tcg")) return accel;
        String mode = accel.contains("thread=multi") ? "TCG multi-threaded" : "TCG single-threaded";
        int icount = accel.indexOf("-icount ");
        return icount < 0 ? mode : mode + ", instruction counting (icount " + accel.substring(icount + 8).strip() + ")";
    }

    /**
     * The host's 1-minute load average, sampled every 5 s while the bench runs, and the QEMU
     * processes besides the run's own (other guests on this host).
     */
    static final class HostLoad {
        private final List<Double> samples = new ArrayList<>();
        private final int ownGuests;
        private int otherGuests;

        /** @param ownGuests the QEMU processes the run itself starts (1 for a guest, 0 on the host) */
        HostLoad(int ownGuests) {
            this.ownGuests = ownGuests;
        }

        /** Runs {@code process} to its end, sampling meanwhile; its exit code. */
        int during(ProcessBuilder process) throws IOException, InterruptedException {
            sample();
            Thread sampler = Thread.ofPlatform().daemon().name("host-load").start(() -> {
                try {
                    while (true) {
                        Thread.sleep(5000);
                        sample();
                    }
                } catch (InterruptedException e) {
                    // the run ended
                }
            });
            try {
                return process.start().waitFor();
            } finally {
                sampler.interrupt();
                sampler.join();
                sample();
            }
        }

        private void sample() {
            try {
                double load = Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split("\\s+")[0]);
                long qemus = ProcessHandle.allProcesses().filter(h -> h.info().command().orElse("").contains("qemu-system")).count();
                synchronized (this) {
                    samples.add(load);
                    otherGuests = Math.max(otherGuests, (int) Math.max(0, qemus - ownGuests));
                }
            } catch (IOException | RuntimeException e) {
                // no /proc/loadavg: nothing to record
            }
        }

        /** What the entry says of the load. */
        synchronized String describe() {
            return describe(samples.stream().mapToDouble(Double::doubleValue).toArray(), Runtime.getRuntime().availableProcessors(), otherGuests);
        }

        /** Loaded: on average more runnable tasks than CPUs, so the run competed with other work. */
        static String describe(double[] loads, int cpus, int otherGuests) {
            if (loads.length == 0) return "not measured";
            double mean = 0, max = 0;
            for (double l : loads) {
                mean += l / loads.length;
                max = Math.max(max, l);
            }
            String guests = otherGuests > 0 ? String.format(Locale.ROOT, "; %d other QEMU guest%s ran on this host", otherGuests,
                    otherGuests == 1 ? "" : "s") : "";
            return String.format(Locale.ROOT, "%s: 1-minute load average over the run mean %.1f, max %.1f, on %d CPUs%s",
                    mean > cpus ? "LOADED (more runnable tasks than CPUs: the run competed with other work)" : "not loaded",
                    mean, max, cpus, guests);
        }
    }
}
