package io.github.iommufd4j.bench;

/**
 * One line of the table: a pair of figures in one unit (A measured against B) and their ratio,
 * or a single figure (B absent), with the target it is reported against, if any.
 */
record Row(String name, String unit, String aLabel, double a, String bLabel, double b, Target target, String note) {

    /** A bound on the ratio A/B, or on A alone for single figures. */
    record Target(boolean onRatio, boolean atMost, double bound, String text) {
        static Target ratioAtMost(double bound) { return new Target(true, true, bound, "A/B <= " + bound); }
        static Target ratioAtLeast(double bound) { return new Target(true, false, bound, "A/B >= " + bound); }
        static Target atMost(double bound, String text) { return new Target(false, true, bound, text); }
        static Target atLeast(double bound, String text) { return new Target(false, false, bound, text); }
    }

    static Row pair(String name, String unit, String aLabel, double a, String bLabel, double b, Target target, String note) {
        return new Row(name, unit, aLabel, a, bLabel, b, target, note);
    }

    static Row single(String name, String unit, String label, double value, Target target, String note) {
        return new Row(name, unit, label, value, null, Double.NaN, target, note);
    }

    boolean isPair() {
        return bLabel != null;
    }

    double ratio() {
        return isPair() ? a / b : Double.NaN;
    }

    /** "met", "missed", "n/a" (a figure is missing here), or "" without a target. */
    String verdict() {
        if (target == null) return "";
        double v = target.onRatio() ? ratio() : a;
        if (Double.isNaN(v) || Double.isInfinite(v)) return "n/a";
        return (target.atMost() ? v <= target.bound() : v >= target.bound()) ? "met" : "missed";
    }
}
