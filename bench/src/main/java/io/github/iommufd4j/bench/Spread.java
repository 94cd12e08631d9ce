package io.github.iommufd4j.bench;

import java.util.Arrays;

/**
 * The median of a figure's repetitions within one run, and their spread (lowest and highest).
 * Repetitions that could not be measured (NaN, e.g. a baseline that did not run) are left out;
 * with none left every field is NaN and {@code n} is 0.
 */
record Spread(double median, double min, double max, int n) {

    static Spread of(double... values) {
        double[] v = Arrays.stream(values).filter(Double::isFinite).sorted().toArray();
        if (v.length == 0) return new Spread(Double.NaN, Double.NaN, Double.NaN, 0);
        int m = v.length / 2;
        double median = v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
        return new Spread(median, v[0], v[v.length - 1], v.length);
    }

    /** The spread as {@code min-max}, "n/a" without figures. */
    String range(int decimals) {
        if (n == 0) return "n/a";
        return Report.number(min, decimals) + "-" + Report.number(max, decimals);
    }
}
