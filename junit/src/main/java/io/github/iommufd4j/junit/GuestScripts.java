package io.github.iommufd4j.junit;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The guest harness's scripts (launcher, guest init, kernel build and config fragment, container
 * image), shipped as resources of this artifact and extracted on first use to
 * {@code <cache>/scripts/<hash of their contents>}, where {@code <cache>} is
 * {@code $IOMMUFD4J_CACHE}, else {@code $XDG_CACHE_HOME/iommufd4j}, else {@code ~/.cache/iommufd4j}.
 */
public final class GuestScripts {
    static final List<String> NAMES = List.of("run-vm.sh", "init.sh", "guest-run.sh", "build-kernel.sh",
            "check-config.sh", "guest.config", "debian-fetch.sh", "setup-host.sh", "build-image.sh", "Dockerfile");
    private static Path dir;

    private GuestScripts() {}

    /**
     * Returns the cache root ({@code ~/.cache/iommufd4j} by default), as build-kernel.sh computes it.
     *
     * @return the cache root ({@code ~/.cache/iommufd4j} by default), as build-kernel.sh computes it
     */
    public static Path cacheRoot() {
        String env = System.getenv("IOMMUFD4J_CACHE");
        if (env != null && !env.isBlank()) return Path.of(env);
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "iommufd4j");
        return Path.of(System.getProperty("user.home"), ".cache", "iommufd4j");
    }

    /**
     * Returns the directory holding the extracted scripts (extracted on the first call).
     *
     * @return the directory holding the extracted scripts (extracted on the first call)
     */
    public static synchronized Path dir() {
        if (dir != null) return dir;
        try {
            Map<String, byte[]> files = new LinkedHashMap<>();
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String name : NAMES) {
                try (InputStream in = GuestScripts.class.getResourceAsStream("vm/" + name)) {
                    if (in == null) throw new IOException("resource vm/" + name + " missing from iommufd4j-junit");
                    byte[] b = in.readAllBytes();
                    files.put(name, b);
                    sha.update(name.getBytes());
                    sha.update(b);
                }
            }
            Path target = cacheRoot().resolve("scripts").resolve(HexFormat.of().formatHex(sha.digest()).substring(0, 12));
            if (!Files.isRegularFile(target.resolve(".complete"))) {
                // Extracted beside, then moved in one step: concurrent runs never see half a directory.
                Files.createDirectories(target.getParent());
                Path tmp = Files.createTempDirectory(target.getParent(), "tmp-");
                for (var e : files.entrySet()) {
                    Path f = Files.write(tmp.resolve(e.getKey()), e.getValue());
                    if (e.getKey().endsWith(".sh")) f.toFile().setExecutable(true, false);
                }
                Files.writeString(tmp.resolve(".complete"), "");
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException raced) {
                    if (!Files.isRegularFile(target.resolve(".complete"))) throw raced;
                    deleteTree(tmp);
                }
            }
            return dir = target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract the guest scripts", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
