package io.github.iommufd4j.bench;

/**
 * One line of the table: a pair of figures in one unit (A measured against B) and their ratio,
 * or a single figure (B absent), with the target it is reported against, if any. Each figure is
 * kept per repetition ({@code aReps[i]} and {@code bReps[i]} measured back to back in repetition
 * i); the table shows their medians, the median of the per-repetition ratios and its spread.
 * {@code notRun} says which baseline could not run and why (null when every figure ran).
 */
record Row(String name, String unit, String aLabel, double[] aReps, String bLabel, double[] bReps, Target target, String note,
           String notRun) {

    /** A bound on the ratio A/B, or on A alone for single figures. */
    record Target(boolean onRatio, boolean atMost, double bound, String text) {
        static Target ratioAtMost(double bound) { return new Target(true, true, bound, "A/B <= " + bound); }
        static Target ratioAtLeast(double bound) { return new Target(true, false, bound, "A/B >= " + bound); }
        static Target atMost(double bound, String text) { return new Target(false, true, bound, text); }
        static Target atLeast(double bound, String text) { return new Target(false, false, bound, text); }
    }

    Row {
        if (bReps != null && bReps.length != aReps.length) {
            throw new IllegalArgumentException(name + ": " + aReps.length + " repetitions of A, " + bReps.length + " of B");
        }
    }

    static Row pair(String name, String unit, String aLabel, double[] a, String bLabel, double[] b, Target target, String note) {
        return new Row(name, unit, aLabel, a.clone(), bLabel, b.clone(), target, note, null);
    }

    static Row single(String name, String unit, String label, double[] value, Target target, String note) {
        return new Row(name, unit, label, value.clone(), null, null, target, note, null);
    }

    /** This row, marked as missing a baseline for {@code why} (unchanged when {@code why} is null). */
    Row notRun(String why) {
        return why == null ? this : new Row(name, unit, aLabel, aReps, bLabel, bReps, target, note, why);
    }

    boolean isPair() {
        return bLabel != null;
    }

    /** The median of A's repetitions. */
    double a() {
        return Spread.of(aReps).median();
    }

    /** The median of B's repetitions; NaN for a single figure. */
    double b() {
        return isPair() ? Spread.of(bReps).median() : Double.NaN;
    }

    /** The per-repetition ratios A/B (NaN where either side is missing); for a single figure, A's repetitions. */
    double[] ratios() {
        if (!isPair()) return aReps.clone();
        double[] r = new double[aReps.length];
        for (int i = 0; i < r.length; i++) r[i] = aReps[i] / bReps[i];
        return r;
    }

    /** The median of the per-repetition ratios A/B (not the ratio of the medians); NaN for a single figure. */
    double ratio() {
        return isPair() ? spread().median() : Double.NaN;
    }

    /** What the table reports: the per-repetition ratios of a pair, the repetitions of a single figure. */
    Spread spread() {
        return Spread.of(ratios());
    }

    /** "met", "missed", "not run" (a baseline could not run), "n/a" (a figure is missing here), or "" without a target. */
    String verdict() {
        if (notRun != null) return "not run";
        if (target == null) return "";
        double v = target.onRatio() ? ratio() : a();
        if (Double.isNaN(v) || Double.isInfinite(v)) return "n/a";
        return (target.atMost() ? v <= target.bound() : v >= target.bound()) ? "met" : "missed";
    }
}
