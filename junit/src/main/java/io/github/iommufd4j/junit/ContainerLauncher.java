package io.github.iommufd4j.junit;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.CreateContainerCmd;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.Device;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.Volume;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.output.OutputFrame;
import org.testcontainers.containers.startupcheck.StartupCheckStrategy;
import org.testcontainers.utility.DockerImageName;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Runs run-vm.sh inside a container (Testcontainers) on a locally built
 * image with QEMU 10 (build-image.sh beside it: Debian packages only, no
 * image registry). The guest's root is the container's {@code /} over virtio-9p, so what the
 * guest needs is bind-mounted at its host path: read-only the scripts directory, the guest kernel's directory, the JDK and every absolute path found in
 * the spec's environment; read-write the results directory. {@code /dev/kvm} is passed through
 * when present. The container's output (run-vm.sh's) goes to {@code run-vm.log} in the results,
 * as with {@link QemuLauncher}, and {@code container.log} records the image, mounts and times.
 *
 * <p>The Docker engine is Testcontainers' (honouring {@code DOCKER_HOST};
 * the project's {@code vm-tests/container/start-dockerd.sh} starts a private one). Ryuk must be disabled
 * ({@code TESTCONTAINERS_RYUK_DISABLED=true}) because its image would be pulled; inside a
 * container, an engine without a bridge network (the private one) also needs
 * {@code TESTCONTAINERS_HOST_OVERRIDE=localhost} (set both in Surefire's {@code environmentVariables}).
 * {@code -Diommufd4j.vm.container.image=NAME} uses a ready image instead of building one;
 * {@code -Diommufd4j.vm.container.privileged=true} runs the container privileged.
 */
public final class ContainerLauncher implements VmLauncher {
    /** The file run-vm.sh's output goes to, in the results directory. */
    public static final String RUN_LOG = "run-vm.log";
    /** The container's record: image, command, mounts, exit code and times. */
    public static final String CONTAINER_LOG = "container.log";

    private final Path scriptsDir;
    private final Path runVm;
    private final Path buildImage;
    private boolean checked;
    private String unavailable;
    private String image;
    private String dockerHost;

    /**
     * Creates one.
     *
     * @param scriptsDir where run-vm.sh and build-image.sh are ({@link GuestScripts#dir()})
     */
    public ContainerLauncher(Path scriptsDir) {
        this.scriptsDir = scriptsDir.toAbsolutePath().normalize();
        this.runVm = this.scriptsDir.resolve("run-vm.sh");
        this.buildImage = this.scriptsDir.resolve("build-image.sh");
    }

    /**
     * Null when a Docker engine answers and the image is there (it is built on first use, a
     * couple of minutes cold); otherwise why not.
     */
    @Override
    public synchronized String unavailableReason() {
        if (!checked) {
            unavailable = check();
            checked = true;
        }
        return unavailable;
    }

    /**
     * Returns the image the guests run in (after {@link #unavailableReason()} returned null).
     *
     * @return the image the guests run in (after {@link #unavailableReason()} returned null)
     */
    public synchronized String image() {
        return image;
    }

    /**
     * Returns the Docker endpoint in use (after {@link #unavailableReason()} returned null).
     *
     * @return the Docker endpoint in use (after {@link #unavailableReason()} returned null)
     */
    public synchronized String dockerHost() {
        return dockerHost;
    }

    private String check() {
        if (!Files.isRegularFile(runVm)) return "no " + runVm;
        if (!"true".equalsIgnoreCase(System.getenv("TESTCONTAINERS_RYUK_DISABLED"))) {
            return "Testcontainers' Ryuk is enabled, and its image would be pulled: set TESTCONTAINERS_RYUK_DISABLED=true";
        }
        String envHost = System.getenv("DOCKER_HOST");
        String hint = " (vm-tests/container/start-dockerd.sh starts a private engine and prints the DOCKER_HOST to use)";
        if (envHost == null || envHost.isBlank()) {
            String runtime = System.getenv("XDG_RUNTIME_DIR");
            boolean socket = Files.exists(Path.of("/var/run/docker.sock"))
                    || runtime != null && Files.exists(Path.of(runtime, "docker.sock"))
                    || configuresHost(Path.of(System.getProperty("user.home"), ".testcontainers.properties"));
            if (!socket) return "no Docker engine: DOCKER_HOST is not set and there is no /var/run/docker.sock" + hint;
        } else if (envHost.startsWith("unix://") && !Files.exists(Path.of(envHost.substring("unix://".length())))) {
            return "no Docker engine at DOCKER_HOST=" + envHost + ": no such socket" + hint;
        }
        try {
            DockerClientFactory factory = DockerClientFactory.instance();
            factory.client().pingCmd().exec();
            dockerHost = factory.getTransportConfig().getDockerHost().toString();
        } catch (Throwable e) {
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            String message = e.getMessage() + (root != e ? " (" + root + ")" : "");
            if (message.contains("network bridge not found")) {
                // Testcontainers in a container (/.dockerenv) asks for the engine's bridge network.
                return "the Docker engine has no bridge network, which Testcontainers looks up when it runs in a"
                        + " container: set TESTCONTAINERS_HOST_OVERRIDE=localhost";
            }
            return "no Docker engine answers" + (envHost == null ? "" : " at DOCKER_HOST=" + envHost) + ": " + message + hint;
        }
        String given = System.getProperty("iommufd4j.vm.container.image", "");
        if (!given.isBlank()) {
            try {
                DockerClientFactory.instance().client().inspectImageCmd(given).exec();
            } catch (RuntimeException e) {
                return "no image " + given + " (-Diommufd4j.vm.container.image) in the Docker engine at " + dockerHost;
            }
            image = given;
            return null;
        }
        try {
            image = buildImage();
            return null;
        } catch (IOException e) {
            return "the VM-test container image cannot be built: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while building the VM-test container image";
        }
    }

    /** Whether Testcontainers' user configuration names a Docker endpoint. */
    private static boolean configuresHost(Path properties) {
        try (var in = Files.newInputStream(properties)) {
            var p = new java.util.Properties();
            p.load(in);
            return p.containsKey("docker.host") || p.containsKey("tc.host");
        } catch (IOException e) {
            return false;
        }
    }

    /** Runs build-image.sh against the engine Testcontainers uses; its last stdout line is the tag. */
    private String buildImage() throws IOException, InterruptedException {
        if (!Files.isRegularFile(buildImage)) throw new IOException("no " + buildImage);
        ProcessBuilder pb = new ProcessBuilder("bash", buildImage.toString()).redirectErrorStream(false);
        pb.environment().put("DOCKER_HOST", dockerHost);
        Process p = pb.start();
        // Progress (stderr) is shown as it comes; its tail goes into the reason on failure.
        Deque<String> errTail = new ArrayDeque<>();
        Thread err = Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r = p.errorReader()) {
                for (String line; (line = r.readLine()) != null; ) {
                    System.err.println(line);
                    synchronized (errTail) {
                        errTail.addLast(line);
                        if (errTail.size() > 15) errTail.removeFirst();
                    }
                }
            } catch (IOException ignored) {
                // the process is gone
            }
        });
        String last = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) last = line.trim();
        }
        int rc = p.waitFor();
        err.join(5_000);
        if (rc != 0 || last == null) {
            synchronized (errTail) {
                throw new IOException(buildImage + " exited with " + rc + ":\n" + String.join("\n", errTail));
            }
        }
        return last;
    }

    @Override
    public Result run(Spec spec) throws IOException, InterruptedException {
        String why = unavailableReason();
        if (why != null) throw new IOException("the container launcher is unavailable: " + why);
        long start = System.nanoTime();
        Files.createDirectories(spec.results());
        Path results = spec.results().toAbsolutePath().normalize();
        Path console = results.resolve("console.log");
        Path runLog = results.resolve(RUN_LOG);
        Path containerLog = results.resolve(CONTAINER_LOG);
        Files.deleteIfExists(runLog);

        List<String> cmd = spec.command(runVm);
        Map<Path, Path> readOnly = readOnlyMounts(spec, results);
        List<Bind> binds = new ArrayList<>();
        readOnly.forEach((at, from) -> binds.add(new Bind(from.toString(), new Volume(at.toString()), AccessMode.ro)));
        binds.add(new Bind(results.toRealPath().toString(), new Volume(results.toString()), AccessMode.rw));
        Path kvm = Path.of("/dev/kvm");
        boolean withKvm = Files.exists(kvm);
        boolean privileged = Boolean.getBoolean("iommufd4j.vm.container.privileged");
        // As this JVM's user, like the direct launcher (results owned by the same user).
        int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        int gid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:gid");

        StringBuilder record = new StringBuilder();
        record.append("image ").append(image).append(" on ").append(dockerHost).append('\n')
                .append("user ").append(uid).append(':').append(gid)
                .append(withKvm ? ", /dev/kvm passed through" : ", no /dev/kvm")
                .append(privileged ? ", privileged" : "").append(", network none\n");
        for (Bind b : binds) record.append("mount ").append(b.getPath()).append(" at ").append(b.getVolume().getPath())
                .append(' ').append(b.getAccessMode()).append('\n');
        record.append("command ").append(String.join(" ", cmd)).append('\n');

        Duration limit = spec.timeout().plusSeconds(60);
        int exit;
        long created;
        long exited;
        String id;
        try (GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(image))) {
            c.withCommand(cmd.toArray(String[]::new))
                    .withNetworkMode("none")
                    .withPrivilegedMode(privileged)
                    .withLabel("io.github.iommufd4j.vm-tests", "run-vm")
                    .withStartupCheckStrategy(new Started())
                    .withCreateContainerCmdModifier(create -> configure(create, binds, withKvm, uid, gid));
            String verbose = System.getenv("IOMMUFD4J_VM_VERBOSE");
            if (verbose != null) c.withEnv("IOMMUFD4J_VM_VERBOSE", verbose);
            if ("1".equals(verbose)) c.withLogConsumer(f -> System.err.print(f.getUtf8String()));
            if (uid != 0) c.withEnv("HOME", "/tmp");
            c.start();
            created = System.nanoTime();
            id = c.getContainerId();
            DockerClient docker = c.getDockerClient();
            Integer code;
            try {
                code = docker.waitContainerCmd(id).start().awaitStatusCode(limit.toSeconds(), TimeUnit.SECONDS);
            } catch (RuntimeException e) {
                if (Thread.interrupted()) throw new InterruptedException("interrupted while the guest ran"); // stops it
                code = null; // timed out waiting (run-vm.sh has its own, shorter timeout)
            }
            exited = System.nanoTime();
            exit = code == null ? 124 : code;
            Files.writeString(runLog, c.getLogs(OutputFrame.OutputType.STDOUT, OutputFrame.OutputType.STDERR));
        } catch (RuntimeException e) {
            // Testcontainers' errors (create/start failed) are unchecked; report them as I/O.
            record.append("failed: ").append(e).append('\n');
            Files.writeString(containerLog, record);
            throw new IOException("the VM-test container failed: " + e.getMessage(), e);
        }
        long end = System.nanoTime();
        record.append("container ").append(id).append('\n')
                .append("exit ").append(exit).append(exit == 124 ? " (timeout)" : "").append('\n')
                .append(String.format("times: create+start %.2fs, run %.2fs, logs+stop+remove %.2fs, total %.2fs%n",
                        (created - start) / 1e9, (exited - created) / 1e9, (end - exited) / 1e9, (end - start) / 1e9));
        Files.writeString(containerLog, record);
        return new Result(exit, console, Duration.ofNanos(end - start));
    }

    private static void configure(CreateContainerCmd create, List<Bind> binds, boolean withKvm, int uid, int gid) {
        HostConfig host = create.getHostConfig();
        host.withBinds(binds);
        if (withKvm) {
            host.withDevices(Device.parse("/dev/kvm"));
            if (uid != 0) {
                try {
                    host.withGroupAdd(List.of(String.valueOf(Files.getAttribute(Path.of("/dev/kvm"), "unix:gid"))));
                } catch (IOException ignored) {
                    // no group access to KVM: run-vm.sh falls back to TCG
                }
            }
        }
        if (uid != 0) create.withUser(uid + ":" + gid);
    }

    /**
     * What the guest must see at the host's paths, read-only (mount point to source): the
     * scripts directory, the kernel's directory, the JDK, the script and every absolute path
     * in the environment (a classpath's entries too), nested ones dropped.
     */
    Map<Path, Path> readOnlyMounts(Spec spec, Path results) throws IOException {
        TreeSet<Path> wanted = new TreeSet<>();
        wanted.add(scriptsDir);
        wanted.add(spec.kernel().toAbsolutePath().normalize().getParent());
        wanted.add(spec.script().toAbsolutePath().normalize());
        wanted.add(Path.of(System.getProperty("java.home")).toAbsolutePath().normalize());
        for (String value : spec.env().values()) {
            for (String token : value.split("[:\\s=,]")) {
                if (!token.startsWith("/")) continue;
                Path p = Path.of(token).normalize();
                if (Files.exists(p)) wanted.add(p);
            }
        }
        Map<Path, Path> mounts = new LinkedHashMap<>();
        for (Path p : wanted) {  // sorted: a directory before what is under it
            if (p.getNameCount() == 0 || p.startsWith(results)) continue;
            if (p.startsWith("/proc") || p.startsWith("/sys") || p.startsWith("/dev")) continue;
            if (mounts.keySet().stream().anyMatch(p::startsWith)) continue;
            mounts.put(p, p.toRealPath());
        }
        return mounts;
    }

    /** The container counts as started once Docker started it: running or already exited, any code. */
    private static final class Started extends StartupCheckStrategy {
        @Override
        public StartupStatus checkStartupState(DockerClient dockerClient, String containerId) {
            return StartupStatus.SUCCESSFUL;
        }
    }
}
