package io.github.iommufd4j.bench;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * {@code Warmup [--chunks N] [--pairs N] [--faults N]}: the cost of a fresh JVM's first work, to
 * compare with C and with an AOT cache (run it with {@code -XX:AOTCacheOutput=FILE}, then with
 * {@code -XX:AOTCache=FILE}; {@link WarmupRuns} does both in a guest). Prints one line: the time
 * from process start to {@code main} and to the first map+unmap done, then ns per map+unmap 4 KiB
 * for {@code chunks} consecutive chunks of {@code pairs} (the first chunk is the cold one), then ns
 * per fault (pump, 1 queue, 1 trigger) for {@code chunks} consecutive rounds of {@code faults},
 * each on a new pump and iommufd, none warmed up. The last {@link #STEADY_CHUNKS} chunks (and
 * rounds) give the steady state.
 */
public final class Warmup {
    /** Steady state: the median of this many last chunks. */
    static final int STEADY_CHUNKS = 3;
    /** "Reached": a chunk within this factor of the steady state. */
    static final double NEAR = 1.10;

    private Warmup() {}

    public static void main(String[] args) throws Exception {
        long mainNs = sinceStartNanos();
        int chunks = 30, pairs = 10_000;
        long faults = 10_000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--chunks" -> chunks = Integer.parseInt(args[i + 1]);
                case "--pairs" -> pairs = Integer.parseInt(args[i + 1]);
                case "--faults" -> faults = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("usage: Warmup [--chunks N] [--pairs N] [--faults N]");
            }
        }
        double[] map = new double[chunks], fault = new double[chunks];
        long firstNs, mapEndNs, faultStartNs;
        try (Iommufd fd = Iommufd.open()) {
            firstPair(fd);
            firstNs = sinceStartNanos();
            for (int c = 0; c < chunks; c++) map[c] = MapUnmap.run(fd, 4096, pairs, 0, 0).nsPerPair();
            mapEndNs = sinceStartNanos();
            faultStartNs = mapEndNs;
            for (int c = 0; c < chunks; c++) fault[c] = 1e9 / FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, faults, -1).faultsPerSecond();
        }
        Map<String, String> line = new LinkedHashMap<>();
        line.put("main_ms", ms(mainNs));
        line.put("first_map_unmap_ms", ms(firstNs));
        line.put("map_end_ms", ms(mapEndNs));
        line.put("fault_start_ms", ms(faultStartNs));
        line.put("pairs_per_chunk", String.valueOf(pairs));
        line.put("map_unmap_ns", join(map));
        line.put("faults_per_round", String.valueOf(faults));
        line.put("fault_ns", join(fault));
        System.out.println("warmup " + line.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" ")));
    }

    /** One map+unmap of 4 KiB on a new IOAS with a mock domain: what a VMM does first. */
    private static void firstPair(Iommufd fd) throws Exception {
        try (Arena arena = Arena.ofConfined(); Ioas ioas = fd.allocIoas()) {
            MemorySegment page = arena.allocate(4096, 4096);
            fd.mock().addDevice(ioas);
            ioas.unmap(ioas.map(page, Access.READ_WRITE), page.byteSize());
        }
    }

    /**
     * Nanoseconds since this process started: the monotonic clock (Linux counts it from boot)
     * less the process's start time in /proc/self/stat (clock ticks since boot, 100 per second),
     * so 10 ms resolution; -1 where that cannot be read.
     */
    static long sinceStartNanos() {
        try {
            return System.nanoTime() - startTicks(Files.readString(Path.of("/proc/self/stat"))) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** Field 22 (starttime) of a /proc/PID/stat line; the command name (field 2) may hold spaces. */
    static long startTicks(String stat) {
        String[] after = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        return Long.parseLong(after[22 - 3]);
    }

    /**
     * The steady state of a series of chunk costs (the median of its last {@link #STEADY_CHUNKS})
     * and the first chunk (1-based) within {@link #NEAR} of it.
     */
    record Steady(double cost, int reachedAt) {
        static Steady of(double[] chunks) {
            if (chunks.length == 0) return new Steady(Double.NaN, 0);
            double[] last = Arrays.copyOfRange(chunks, Math.max(0, chunks.length - STEADY_CHUNKS), chunks.length);
            Arrays.sort(last);
            double cost = last[(last.length - 1) / 2]; // the lower middle of a short even series
            int at = 1;
            while (at < chunks.length && !(chunks[at - 1] <= cost * NEAR)) at++;
            return new Steady(cost, at);
        }
    }

    /** The figures of a {@code warmup ...} line, or null if {@code output} has none. */
    static Map<String, String> parse(String output) {
        for (String l : output.split("\\R")) {
            if (!l.startsWith("warmup ")) continue;
            Map<String, String> values = new LinkedHashMap<>();
            for (String kv : l.substring(7).trim().split("\\s+")) {
                int eq = kv.indexOf('=');
                if (eq > 0) values.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
            return values;
        }
        return null;
    }

    /** A comma-separated list of numbers, as {@link #main} prints them. */
    static double[] numbers(String list) {
        if (list == null || list.isEmpty()) return new double[0];
        return Arrays.stream(list.split(",")).mapToDouble(Double::parseDouble).toArray();
    }

    private static String ms(long ns) {
        return ns < 0 ? "-1" : String.format(Locale.ROOT, "%.0f", ns / 1e6);
    }

    private static String join(double[] v) {
        List<String> s = new ArrayList<>();
        for (double d : v) s.add(String.format(Locale.ROOT, "%.0f", d));
        return String.join(",", s);
    }
}
