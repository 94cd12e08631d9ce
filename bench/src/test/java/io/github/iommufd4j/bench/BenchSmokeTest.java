package io.github.iommufd4j.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The benchmarks still run (part of the default test run; the real runs are `iommufd4j bench`):
 * every benchmark in smoke size, then every figure checked for sanity, C figures wherever
 * /dev/iommu exists, and the three output files.
 */
class BenchSmokeTest {

    @Test
    void everyBenchmarkRunsAndYieldsSaneFigures(@TempDir Path out) throws Exception {
        CBaseline c = new CBaseline(Path.of(System.getProperty("iommufd4j.bench.c", "target/c")));
        assertTrue(c.built(), "the C baselines were not built");
        Report report = new Bench(Sizes.of("smoke"), c, System.err).run();
        report.write(out);
        System.out.print(report.text());

        boolean kernel = Files.exists(Path.of("/dev/iommu"));
        for (Row r : report.rows()) {
            check(r, r.aLabel(), r.a(), kernel);
            if (r.isPair()) check(r, r.bLabel(), r.b(), kernel);
            // A row misses a baseline exactly when one of its figures is missing, and says why.
            boolean missing = Double.isNaN(r.a()) || r.isPair() && Double.isNaN(r.b());
            assertEquals(missing, r.notRun() != null, r.name() + ": " + r.notRun());
        }
        // Without /dev/iommu the C baselines and the kernel mock cannot run: exit status 1.
        if (!kernel) assertEquals(1, report.exitStatus());
        assertEquals(report.notRun().isEmpty() ? 0 : 1, report.exitStatus());
        for (String name : List.of("map+unmap 4 KiB, Java vs C", "map+unmap 2 MiB, Java vs C",
                "faults, 1 queue, 1 trigger: Java pump vs best C", "faults, 8 queues, 2 triggers: 1 Java pump thread vs 8 C blocking",
                "allocated per fault, Java pump, 1 queue, 1 trigger", "map+unmap 4 KiB, software vs kernel mock",
                "heap for 1M 4 KiB mappings (software)", "translate, 1 thread, 16 x 64 MiB mappings (software, JMH)",
                "map+unmap 4 KiB: JFR recording vs off", "faults, 1 queue, 1 trigger: Java pump, JFR recording vs off",
                "allocated per fault, Java pump: JFR recording vs off")) {
            assertTrue(report.rows().stream().anyMatch(r -> r.name().equals(name)), "no row " + name);
        }
        double heap = figure(report, "heap for 1M 4 KiB mappings (software)");
        assertTrue(heap > 1 && heap < 4096, "heap per 1M mappings: " + heap + " MiB");
        assertTrue(figure(report, "translate, 1 thread, 16 x 64 MiB mappings (software, JMH)") > 0.01, "translations per second");
        assertTrue(figure(report, "translate, 1 thread, 4K x 4 KiB mappings (software, JMH)") > 0.01, "translations per second");

        assertTrue(Files.readString(out.resolve("bench.txt")).contains("map+unmap 4 KiB, Java vs C"));
        String json = Files.readString(out.resolve("bench.json"));
        assertTrue(json.contains("\"rows\": [") && json.contains("\"jdk\": ") && json.contains("\"spread_min\": "), json);
        assertTrue(Files.readString(out.resolve("bench.properties")).contains("exit=" + report.exitStatus()));
        BufferedImage png = ImageIO.read(out.resolve("bench.png").toFile());
        assertNotNull(png, "bench.png is not a PNG");
        assertEquals(1400, png.getWidth());
    }

    /** Java figures always, C figures where the kernel's iommufd is: finite, and positive except allocations. */
    private static void check(Row r, String label, double v, boolean kernel) {
        boolean c = label.startsWith("C ") || label.equals("C") || label.equals("kernel mock");
        if (c && !kernel) {
            assertTrue(Double.isNaN(v), r.name() + ": " + label + " without /dev/iommu: " + v);
            return;
        }
        assertTrue(Double.isFinite(v), r.name() + ": " + label + " = " + v);
        if (r.unit().startsWith("bytes")) {
            assertTrue(v >= 0, r.name() + ": " + v);
        } else if (r.name().startsWith("handler's share")) {
            // A difference of two timed rounds (round minus triggers alone): with wall time on a
            // loaded host one repetition can come out below zero; finite is what can be asserted.
            return;
        } else {
            assertTrue(v > 0 && v < 1e12, r.name() + ": " + label + " = " + v);
        }
    }

    private static double figure(Report report, String name) {
        return report.rows().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow().a();
    }
}
