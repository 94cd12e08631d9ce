package io.github.iommufd4j.junit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The guest kernels: a bzImage path given as the kernel, or by
 * {@code -Diommufd4j.vm.kernel.<version>=PATH} (or {@code IOMMUFD4J_KERNEL_7_3},
 * {@code IOMMUFD4J_KERNEL_6_12}); otherwise Linux 6.12 or 7.3 built by build-kernel.sh from
 * Debian's linux-source on first use (4-9 minutes on 2 cores, progress on stderr) and cached
 * under {@code ~/.cache/iommufd4j/kernels}. Concurrent builds of one version wait for each other.
 */
public final class GuestKernels {
    private static final ConcurrentHashMap<String, Path> RESOLVED = new ConcurrentHashMap<>();

    private GuestKernels() {}

    /**
     * Whether a kernel can be had.
     *
     * @param kernel 7.3, 6.12 or the path of a bzImage
     * @return null when it is at hand or can be built here; otherwise why not
     */
    public static String unavailableReason(String kernel) {
        Path given = given(kernel);
        if (given != null) return Files.isRegularFile(given) ? null : "no guest kernel " + given;
        if (!kernel.equals("7.3") && !kernel.equals("6.12")) {
            return "guest kernel \"" + kernel + "\": 7.3, 6.12 or the path of a bzImage";
        }
        try {
            Process p = new ProcessBuilder("bash", GuestScripts.dir().resolve("build-kernel.sh").toString(), "--probe", kernel)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            String err = new String(p.getErrorStream().readAllBytes()).trim();
            if (p.waitFor() == 0) {
                if (err.contains("built on first use")) System.err.println(err); // say so before the wait
                return null;
            }
            return err.isEmpty() ? "cannot build the " + kernel + " guest kernel" : err;
        } catch (IOException e) {
            return "cannot run build-kernel.sh: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /**
     * The bzImage, built if needed (progress goes to stderr).
     *
     * @param kernel 7.3, 6.12 or the path of a bzImage
     * @return the bzImage's path
     * @throws IOException          if there is no such file, or the build failed
     * @throws InterruptedException if interrupted while it builds
     */
    public static Path resolve(String kernel) throws IOException, InterruptedException {
        Path given = given(kernel);
        if (given != null) {
            if (!Files.isRegularFile(given)) throw new IOException("no guest kernel " + given);
            return given;
        }
        Path cached = RESOLVED.get(kernel);
        if (cached != null) return cached;
        Process p = new ProcessBuilder("bash", GuestScripts.dir().resolve("build-kernel.sh").toString(), kernel)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            for (String line; (line = r.readLine()) != null; ) last = line;
        }
        int rc = p.waitFor();
        if (rc != 0 || last == null || !Files.isRegularFile(Path.of(last.trim()))) {
            throw new IOException("building the " + kernel + " guest kernel failed (exit " + rc + "); see its output on stderr");
        }
        Path bz = Path.of(last.trim());
        RESOLVED.put(kernel, bz);
        return bz;
    }

    /** A path: the kernel itself when it names a file, else the system property for its version. */
    private static Path given(String kernel) {
        if (kernel.contains("/")) return Path.of(kernel).toAbsolutePath();
        String p = System.getProperty("iommufd4j.vm.kernel." + kernel, "");
        return p.isBlank() ? null : Path.of(p).toAbsolutePath();
    }
}
