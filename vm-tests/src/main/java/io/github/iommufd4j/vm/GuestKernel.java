package io.github.iommufd4j.vm;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The guest kernels the VM tests boot: built from Debian's linux-source by
 * {@code vm-tests/kernel/build-kernel.sh} (about 5 minutes each on 2 cores, then cached), or
 * given ready by {@code IOMMUFD4J_KERNEL_6_12} / {@code IOMMUFD4J_KERNEL_7_3}.
 */
public final class GuestKernel {
    private GuestKernel() {}

    /** The bzImage for {@code version} (6.12 or 7.3), building it if needed; progress goes to stderr. */
    public static Path resolve(Path vmTestsDir, String version) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", vmTestsDir.resolve("kernel/build-kernel.sh").toString(), version)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            for (String line; (line = r.readLine()) != null; ) last = line;
        }
        int rc = p.waitFor();
        if (rc != 0 || last == null || !Files.isRegularFile(Path.of(last.trim()))) {
            throw new IOException("building the " + version + " guest kernel failed (exit " + rc + "); see the output above");
        }
        return Path.of(last.trim());
    }
}
