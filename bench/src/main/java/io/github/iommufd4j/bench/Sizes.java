package io.github.iommufd4j.bench;

/**
 * How much work each benchmark does. {@code smoke} only proves that every benchmark still runs
 * and yields sane numbers (the default test run); {@code quick} is {@code iommufd4j bench};
 * {@code full} takes longer for steadier figures. Each pair is measured {@code reps} times in the
 * run, alternating, and reported as the median with its spread ({@code smoke} measures once: it
 * proves only that everything runs). Java warm-ups also last at least
 * {@code warmupMillis}: under QEMU without KVM the JIT needs seconds, not a count of calls, to
 * reach steady state.
 */
record Sizes(String mode, int reps, int mapPairs4k, int mapPairs2m, int mapWarmup, int warmupMillis, long faults, int severalTriggers,
             int scaleMappings, int translateMappings, int jmhWarmups, int jmhIterations, int jmhMillis, int jmhForks) {

    /** In-flight faults at most, shared by the trigger threads (the same in Java and C). */
    static final int WINDOW = 1024;
    /** Records per read and answers per write (the same in Java and C). */
    static final int BATCH = 64;

    /** The sizes of {@code mode}; {@code -Diommufd4j.bench.warmupMillis=N} sets the least Java warm-up (a loaded host needs more). */
    static Sizes of(String mode) {
        Sizes s = sized(mode);
        Integer w = Integer.getInteger("iommufd4j.bench.warmupMillis");
        return w == null ? s : new Sizes(s.mode, s.reps, s.mapPairs4k, s.mapPairs2m, s.mapWarmup, w, s.faults, s.severalTriggers,
                s.scaleMappings, s.translateMappings, s.jmhWarmups, s.jmhIterations, s.jmhMillis, s.jmhForks);
    }

    private static Sizes sized(String mode) {
        return switch (mode) {
            case "smoke" -> new Sizes(mode, 1, 2_000, 200, 2_000, 0, 2_000, 2, 100_000, 4_096, 1, 1, 200, 0);
            case "quick" -> new Sizes(mode, 3, 30_000, 3_000, 20_000, 4_000, 10_000, 4, 1_000_000, 1 << 20, 2, 3, 1000, 1);
            case "full" -> new Sizes(mode, 5, 200_000, 10_000, 50_000, 10_000, 100_000, 4, 1_000_000, 1 << 20, 5, 5, 2000, 2);
            default -> throw new IllegalArgumentException("mode: smoke, quick or full, not " + mode);
        };
    }
}
