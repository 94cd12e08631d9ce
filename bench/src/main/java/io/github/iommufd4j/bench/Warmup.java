package io.github.iommufd4j.bench;

import io.github.iommufd4j.Iommufd;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code Warmup [--chunks N] [--pairs N] [--faults N]}: the cost of a fresh JVM's first work, to
 * compare with C and with an AOT cache (run it with {@code -XX:AOTCacheOutput=FILE}, then with
 * {@code -XX:AOTCache=FILE}). Prints the time from process start to the first map+unmap done,
 * then ns per map+unmap 4 KiB for consecutive chunks of {@code pairs} (the first chunk is the
 * cold one), then ns per fault (pump, 1 queue, 1 trigger) for consecutive rounds of
 * {@code faults}, each on a new pump and iommufd, none warmed up.
 */
public final class Warmup {
    private Warmup() {}

    public static void main(String[] args) throws Exception {
        int chunks = 10, pairs = 10_000;
        long faults = 10_000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--chunks" -> chunks = Integer.parseInt(args[i + 1]);
                case "--pairs" -> pairs = Integer.parseInt(args[i + 1]);
                case "--faults" -> faults = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("usage: Warmup [--chunks N] [--pairs N] [--faults N]");
            }
        }
        List<String> map = new ArrayList<>(), fault = new ArrayList<>();
        long firstMs;
        try (Iommufd fd = Iommufd.open()) {
            MapUnmap.run(fd, 4096, 1, 0, 0);
            firstMs = Duration.between(ProcessHandle.current().info().startInstant().orElse(Instant.now()), Instant.now()).toMillis();
            for (int c = 0; c < chunks; c++) map.add(String.format(Locale.ROOT, "%.0f", MapUnmap.run(fd, 4096, pairs, 0, 0).nsPerPair()));
            for (int c = 0; c < chunks; c++) {
                var r = FaultLoad.run(fd.backend(), FaultLoad.Style.PUMP, 1, 1, faults, -1);
                fault.add(String.format(Locale.ROOT, "%.0f", 1e9 / r.faultsPerSecond()));
            }
        }
        System.out.println("warmup first_map_unmap_ms=" + firstMs + " pairs_per_chunk=" + pairs + " map_unmap_ns=" + String.join(",", map)
                + " faults_per_round=" + faults + " fault_ns=" + String.join(",", fault));
    }
}
