package io.github.iommufd4j.bench;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the warm-up figures are read and summed up: steady state, when it is reached, the child's line (no timing). */
class WarmupTest {

    @Test
    void steadyStateIsTheMedianOfTheLastThreeChunksAndReachedAtTheFirstWithinTenPercent() {
        Warmup.Steady s = Warmup.Steady.of(new double[] {900, 400, 120, 108, 130, 100, 101, 99});
        assertEquals(100, s.cost());
        assertEquals(4, s.reachedAt()); // 108 is within 10% of 100; 120 is not
        assertEquals((900 + 400 + 120 + 108) * 10 / 1e6, WarmupRuns.toSteadyMs(new double[] {900, 400, 120, 108, 130, 100, 101, 99}, 10));
    }

    @Test
    void aSeriesAlreadySteadyIsReachedAtTheFirstChunkAndAShortOneStillHasASteadyState() {
        assertEquals(1, Warmup.Steady.of(new double[] {100, 100, 100}).reachedAt());
        assertEquals(new Warmup.Steady(50, 2), Warmup.Steady.of(new double[] {80, 50}));
        Warmup.Steady none = Warmup.Steady.of(new double[0]);
        assertTrue(Double.isNaN(none.cost()));
        assertEquals(0, none.reachedAt());
    }

    @Test
    void aMissingChunkNeverCountsAsReached() {
        assertEquals(3, Warmup.Steady.of(new double[] {Double.NaN, 500, 100, 100, 100}).reachedAt());
    }

    @Test
    void startTimeIsField22EvenWhenTheCommandNameHoldsSpacesAndParentheses() {
        String stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 19 0 123456 4000000 900 18446744073709551615";
        assertEquals(123456, Warmup.startTicks(stat));
    }

    @Test
    void theChildsLineIsFoundAmongTheJvmsOtherOutput() {
        Map<String, String> v = Warmup.parse("Picked up JAVA_TOOL_OPTIONS: -XX:-UsePerfData\n"
                + "warmup main_ms=80 first_map_unmap_ms=900 map_unmap_ns=5000,1200.5 fault_ns=\n");
        assertEquals("900", v.get("first_map_unmap_ms"));
        assertArrayEquals(new double[] {5000, 1200.5}, Warmup.numbers(v.get("map_unmap_ns")));
        assertArrayEquals(new double[0], Warmup.numbers(v.get("fault_ns")));
        assertNull(Warmup.parse("Error: could not find or load main class\n"));
    }
}
