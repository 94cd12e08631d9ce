package io.github.iommufd4j.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * This process's open file descriptors (from {@code /proc/self/fd}) and what each refers to, for
 * leak checks: {@link #leakedSince} lists the descriptors opened or closed since a snapshot,
 * leaving out what the JVM opens by itself on first use (jar files and the runtime image, read
 * once a class is first loaded from them).
 */
public final class OpenFds {
    private OpenFds() {}

    /**
     * Descriptor number to its link target, e.g. {@code pipe:[1234]}, {@code /dev/iommu}; without
     * the listing's own descriptor (a {@code /proc} directory).
     */
    public static Map<Integer, String> snapshot() {
        Map<Integer, String> out = new TreeMap<>();
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    String target = Files.readSymbolicLink(p).toString();
                    if (!target.startsWith("/proc/")) out.put(Integer.parseInt(p.getFileName().toString()), target);
                } catch (IOException gone) {
                    // the directory stream's own fd, closed by now
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Descriptors that differ from {@code before}: "+fd target" opened since, "-fd target" closed since. */
    public static List<String> leakedSince(Map<Integer, String> before) {
        Map<Integer, String> now = snapshot();
        List<String> out = new ArrayList<>();
        now.forEach((fd, target) -> {
            if (!target.equals(before.get(fd)) && !loadedByTheJvm(target)) out.add("+" + fd + " " + target);
        });
        before.forEach((fd, target) -> {
            if (!target.equals(now.get(fd)) && !loadedByTheJvm(target)) out.add("-" + fd + " " + target);
        });
        return out;
    }

    private static boolean loadedByTheJvm(String target) {
        return target.endsWith(".jar") || target.endsWith("/lib/modules");
    }
}
