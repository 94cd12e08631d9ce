package io.github.iommufd4j.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The median and spread of repetitions, and how a row derives its ratio from them (no timing). */
class SpreadTest {

    @Test
    void medianOfAnOddCountIsTheMiddleFigureWhateverTheOrder() {
        Spread s = Spread.of(30, 10, 20);
        assertEquals(20, s.median());
        assertEquals(10, s.min());
        assertEquals(30, s.max());
        assertEquals(3, s.n());
        assertEquals("10.00-30.00", s.range(2));
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        Spread s = Spread.of(4, 1, 3, 100);
        assertEquals(3.5, s.median());
        assertEquals(1, s.min());
        assertEquals(100, s.max());
    }

    @Test
    void anOutlierMovesTheSpreadNotTheMedian() {
        assertEquals(1.1, Spread.of(1.0, 1.1, 9.0).median());
        assertEquals(1.1, Spread.of(1.0, 1.1, 1.2).median());
    }

    @Test
    void missingRepetitionsAreLeftOut() {
        Spread s = Spread.of(Double.NaN, 5, 7, Double.POSITIVE_INFINITY);
        assertEquals(6, s.median());
        assertEquals(2, s.n());
        Spread none = Spread.of(Double.NaN, Double.NaN);
        assertEquals(0, none.n());
        assertTrue(Double.isNaN(none.median()) && Double.isNaN(none.min()) && Double.isNaN(none.max()));
        assertEquals("n/a", none.range(3));
    }

    @Test
    void aPairsRatioIsTheMedianOfThePerRepetitionRatiosNotTheRatioOfMedians() {
        // Repetition 2 ran on a busy machine: both sides slow, its ratio is still 1.
        Row r = Row.pair("x", "ns", "A", new double[] {110, 300, 120}, "B", new double[] {100, 300, 100}, null, null);
        assertEquals(120, r.a());
        assertEquals(100, r.b()); // medians: 120/100 would be 1.2
        assertEquals(1.1, r.ratio(), 1e-12); // ratios 1.1, 1.0, 1.2
        assertEquals(1.0, r.spread().min(), 1e-12);
        assertEquals(1.2, r.spread().max(), 1e-12);
        assertEquals("1.000-1.200", Report.spread(r));
    }

    @Test
    void aSingleFiguresSpreadIsOfItsRepetitions() {
        Row r = Row.single("x", "M/s", "A", new double[] {4, 6, 5}, Row.Target.atLeast(5, ">= 5"), null);
        assertEquals(5, r.a());
        assertTrue(Double.isNaN(r.ratio()));
        assertEquals("met", r.verdict());
        assertEquals("4.00-6.00", Report.spread(r));
        assertEquals("(1 run)", Report.spread(Row.single("y", "MiB", "A", new double[] {80}, null, null)));
    }

    @Test
    void theVerdictUsesTheMedianRatio() {
        double[] c = {100, 100, 100};
        assertEquals("met", Row.pair("x", "ns", "A", new double[] {104, 200, 90}, "B", c, Row.Target.ratioAtMost(1.05), null).verdict());
        assertEquals("missed", Row.pair("x", "ns", "A", new double[] {106, 90, 107}, "B", c, Row.Target.ratioAtMost(1.05), null).verdict());
    }

    @Test
    void bothSidesNeedTheSameRepetitions() {
        assertThrows(IllegalArgumentException.class, () -> Row.pair("x", "ns", "A", new double[] {1, 2, 3}, "B", new double[] {1}, null, null));
    }
}
