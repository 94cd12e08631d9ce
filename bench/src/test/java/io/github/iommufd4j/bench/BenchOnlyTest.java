package io.github.iommufd4j.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** IOMMUFD4J_BENCH_ONLY: the groups of a partial table. */
class BenchOnlyTest {

    @Test
    void unsetOrBlankMeansEveryGroup() {
        assertNull(Bench.only(null));
        assertNull(Bench.only("  "));
    }

    @Test
    void groupsAreListedAndUnknownOnesRefusedByName() {
        assertEquals(List.of("map", "software"), Bench.only("map, software"));
        var e = assertThrows(IllegalArgumentException.class, () -> Bench.only("map,fault"));
        assertTrue(e.getMessage().contains("not fault"), e.getMessage());
    }
}
