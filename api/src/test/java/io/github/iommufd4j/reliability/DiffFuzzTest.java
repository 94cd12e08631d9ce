package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Differential fuzzing ({@link DiffFuzzer}): where the kernel's iommufd is usable (the guest),
 * the kernel against the software backend behaving as the same release; elsewhere the software
 * backend against itself, which checks that the generator runs without a crash and that results
 * are reproducible. {@code -Diommufd4j.fuzz.ops} sets the number of operations and
 * {@code -Diommufd4j.fuzz.seed} the first seed.
 */
class DiffFuzzTest {
    static final int OPS = Integer.getInteger("iommufd4j.fuzz.ops", 4000);
    static final long SEED = Long.getLong("iommufd4j.fuzz.seed", 20261124);
    static final int SEQUENCE = 200;

    @Test
    void kernelAndSoftwareBackendAgreeOnEveryResultIdAndErrno() throws Exception {
        boolean nativeAvailable;
        try (Iommufd fd = Iommufd.open()) {
            nativeAvailable = fd.backend() == Backend.NATIVE && fd.mock().isPresent();
        }
        DiffFuzzer fuzzer = nativeAvailable ? DiffFuzzer.nativeVsSoftware()
                : new DiffFuzzer(() -> DiffFuzzer.open(Backend.SOFTWARE), () -> DiffFuzzer.open(Backend.SOFTWARE));
        String sides = nativeAvailable ? "kernel " + System.getProperty("os.version") + " vs software" : "software vs software";
        Map<String, List<DiffFuzzer.Op>> reproducers = new LinkedHashMap<>();
        int ops = 0, divergent = 0;
        long start = System.nanoTime();
        try {
            for (long seed = SEED; ops < OPS; seed++) {
                List<DiffFuzzer.Op> seq = DiffFuzzer.generate(new Random(seed), Math.min(SEQUENCE, OPS - ops));
                DiffFuzzer.Divergence d = fuzzer.compare(seq);
                ops += d == null ? seq.size() : d.index() + 1;
                if (d == null) continue;
                divergent++;
                // One reproducer per kind of divergence (operation and both answers).
                String key = d.op().kind() + ": " + d.left() + " vs " + d.right();
                if (reproducers.containsKey(key) || reproducers.size() >= 8) continue;
                List<DiffFuzzer.Op> small = fuzzer.shrink(seq, 400);
                reproducers.put(key, small);
                System.out.println("[reliability] divergence (seed " + seed + "), shrunk to " + small.size()
                        + " ops (result, and <> the other side's where they differ):");
                for (String line : fuzzer.trace(small)) System.out.println("    " + line);
            }
        } finally {
            fuzzer.close();
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("[reliability] differential fuzzing (%s): %d ops in %d ms, %d divergent sequences, %d kinds%n",
                sides, ops, ms, divergent, reproducers.size());
        System.out.println("[reliability] outcomes per operation: " + fuzzer.outcomes());
        assertEquals(List.of(), new ArrayList<>(reproducers.keySet()), "divergences (reproducers printed above)");
    }
}
