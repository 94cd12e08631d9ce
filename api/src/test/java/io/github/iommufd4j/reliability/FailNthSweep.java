package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs one typed operation sequence with its 1st, 2nd, ... fault-injection point failing, on a
 * fresh native iommufd each time, until a run passes with no failure injected. Every step must
 * end in an {@link IommufdException} carrying an errno (or succeed when the kernel absorbs the
 * failure), leave no iommufd object once the handles are closed, and no file descriptor once
 * the iommufd is closed.
 */
public final class FailNthSweep {
    /** A sequence of typed operations; it adds every handle it creates to {@code created}. */
    public interface Sequence {
        /** Returns a value that the run without injection must reproduce (e.g. faults read). */
        long run(Iommufd fd, List<AutoCloseable> created) throws Exception;
    }

    /** What a sweep saw: steps run, failures by errno, failures the kernel absorbed. */
    public record Result(String name, int steps, Map<String, Integer> errnos, int absorbed) {
        @Override
        public String toString() {
            return "fail-nth " + name + ": " + steps + " steps, failed with " + errnos + ", absorbed " + absorbed
                    + ", crashes 0, leaks 0";
        }
    }

    private static final int MAX_STEPS = 2000;

    private FailNthSweep() {}

    public static Result sweep(String name, Sequence seq) throws Exception {
        return sweep(name, (fd, made) -> 0, seq);
    }

    /** The same, with {@code prepare} run before each step without injection (what the sweep leaves out). */
    public static Result sweep(String name, Sequence prepare, Sequence seq) throws Exception {
        // Unarmed first: loads the classes and touches the memory the sequence uses, and gives the
        // result the final unarmed step must reproduce.
        long expected = once(prepare, seq, null, 0).value;
        Map<String, Integer> errnos = new TreeMap<>();
        int absorbed = 0;
        try (FailNth failNth = FailNth.open()) {
            long fdsAtStart = Leaks.openFds(); // the fail-nth file's fd included
            for (int n = 1; n <= MAX_STEPS; n++) {
                Outcome o = once(prepare, seq, failNth, n);
                assertEquals(fdsAtStart, Leaks.openFds(), name + " step " + n + ": file descriptors leaked");
                if (o.error != null) {
                    errnos.merge(o.error.errnoName(), 1, Integer::sum);
                } else if (o.injected) {
                    absorbed++;
                } else {
                    assertEquals(expected, o.value, name + ": the run without injection gives the unarmed result");
                    Result r = new Result(name, n, errnos, absorbed);
                    System.out.println("[reliability] " + r);
                    return r;
                }
            }
        }
        return fail(name + ": still failing after " + MAX_STEPS + " steps");
    }

    private record Outcome(long value, IommufdException error, boolean injected) {}

    private static Outcome once(Sequence prepare, Sequence seq, FailNth failNth, int n) throws Exception {
        List<AutoCloseable> created = new ArrayList<>();
        try (Iommufd fd = Iommufd.open(Backend.NATIVE)) {
            prepare.run(fd, created);
            long value = 0;
            Throwable thrown = null;
            if (failNth != null) failNth.arm(n);
            try {
                value = seq.run(fd, created);
            } catch (Throwable t) {
                thrown = t;
            }
            boolean injected = failNth != null && failNth.disarm();
            String at = " at step " + n;
            if (thrown != null) {
                if (!(thrown instanceof IommufdException e)) throw new AssertionError("not a typed error" + at, thrown);
                assertTrue(e.errno() > 0, "errno" + at + ": " + e);
                if (!injected) throw new AssertionError("failed without an injected failure" + at, e);
            }
            // Closing what was made must work after any failure, and leave nothing behind.
            Leaks.closeAll(created);
            Leaks.assertNoObjects(fd, 64);
            return new Outcome(value, (IommufdException) thrown, injected);
        }
    }
}
