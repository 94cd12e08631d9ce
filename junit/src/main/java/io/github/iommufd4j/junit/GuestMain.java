package io.github.iommufd4j.junit;

import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest side: runs the selected tests with the JUnit Platform and appends each test's and
 * container's {@link Outcome} to a file as it finishes (so a guest that dies midway still reports
 * what ran). Exit code 0 when nothing failed, 1 otherwise, 2 on bad arguments.
 *
 * <pre>GuestMain OUTCOMES_FILE (--select-class=C | --select-method=C#m | --select-package=P | --select-unique-id=U)...</pre>
 */
public final class GuestMain {
    private GuestMain() {}

    /**
     * Runs the selected tests.
     *
     * @param args the outcomes file, then the selectors
     * @throws IOException if the outcomes file cannot be written
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: GuestMain OUTCOMES_FILE --select-class=C|--select-method=C#m|--select-package=P...");
            System.exit(2);
        }
        List<DiscoverySelector> selectors = new ArrayList<>();
        boolean packages = false;
        for (String a : List.of(args).subList(1, args.length)) {
            String v = a.substring(a.indexOf('=') + 1);
            if (a.startsWith("--select-class=")) selectors.add(DiscoverySelectors.selectClass(v));
            else if (a.startsWith("--select-method=")) selectors.add(DiscoverySelectors.selectMethod(v));
            else if (a.startsWith("--select-unique-id=")) selectors.add(DiscoverySelectors.selectUniqueId(v));
            else if (a.startsWith("--select-package=")) {
                selectors.add(DiscoverySelectors.selectPackage(v));
                packages = true;
            } else {
                System.err.println("GuestMain: unknown argument " + a);
                System.exit(2);
            }
        }
        var builder = LauncherDiscoveryRequestBuilder.request().selectors(selectors);
        // As the console launcher and Surefire do: in a package, only classes named like tests.
        if (packages) builder.filters(ClassNameFilter.includeClassNamePatterns(ClassNameFilter.STANDARD_INCLUDE_PATTERN));
        LauncherDiscoveryRequest request = builder.build();
        int[] counts = new int[4];
        try (ObjectOutputStream out = new ObjectOutputStream(new FileOutputStream(args[0]))) {
            Launcher launcher = LauncherFactory.create();
            launcher.execute(request, new TestExecutionListener() {
                @Override
                public void executionSkipped(TestIdentifier id, String reason) {
                    write(Outcome.of(id.getUniqueId(), parent(id), id.getDisplayName(), id.isTest(),
                            Outcome.Status.DISABLED, null, reason));
                    if (id.isTest()) counts[3]++;
                    if (id.isTest()) System.out.println("guest-test: DISABLED " + id.getLegacyReportingName() + ": " + reason);
                }

                @Override
                public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                    Outcome.Status status = switch (result.getStatus()) {
                        case SUCCESSFUL -> Outcome.Status.SUCCESSFUL;
                        case ABORTED -> Outcome.Status.ABORTED;
                        case FAILED -> Outcome.Status.FAILED;
                    };
                    Throwable t = result.getThrowable().orElse(null);
                    write(Outcome.of(id.getUniqueId(), parent(id), id.getDisplayName(), id.isTest(), status, t, null));
                    if (id.isTest() || status == Outcome.Status.FAILED) {
                        counts[status.ordinal()]++;
                        System.out.println("guest-test: " + status + " " + id.getUniqueId()
                                + (t == null ? "" : ": " + t));
                    }
                }

                private String parent(TestIdentifier id) {
                    return id.getParentId().orElse(null);
                }

                private void write(Outcome o) {
                    try {
                        out.writeObject(o);
                        out.flush();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            });
        }
        System.out.printf("guest-tests: %d passed, %d failed, %d aborted, %d disabled%n",
                counts[0], counts[1], counts[2], counts[3]);
        System.exit(counts[1] == 0 ? 0 : 1);
    }
}
