package io.github.iommufd4j.helper;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FdChannel;
import io.github.iommufd4j.FdListener;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.bindings.Errno;
import io.github.iommufd4j.bindings.Libc;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The privileged helper of a sandboxed VMM, to run as-is or copy: opens {@code /dev/iommu} and
 * the named VFIO device cdevs (which the VMM may not open), optionally allocates an IOAS, hands
 * all of it to one client over a UNIX socket ({@link Handoff}) and exits. The helper destroys
 * nothing it handed over: closing its copies leaves the objects to the VMM.
 *
 * <pre>
 * iommufd4j-helper (--socket PATH | --fd N) [--device CDEV|PCI-ADDRESS]... [--ioas]
 *                  [--client-uid UID] [--timeout SECONDS]
 * </pre>
 * Exit status: 0 served, 1 failed (the reason on stderr), 2 bad arguments.
 */
public final class Helper {
    private Helper() {}

    static final String USAGE = """
            usage: iommufd4j-helper (--socket PATH | --fd N) [--device CDEV]... [--ioas] [--client-uid UID] [--timeout SECONDS]
              --socket PATH      listen at PATH (a new file, removed on exit) and serve the first client
              --fd N             serve the peer of the inherited connected socket N (SOCK_SEQPACKET) instead
              --device CDEV      a VFIO device cdev to open and hand over (repeatable): /dev/vfio/devices/vfioN
                                 or a PCI address (0000:00:03.0) bound to vfio-pci
              --ioas             allocate an IOAS in the iommufd and hand over its id
              --client-uid UID   serve only a client of this uid (SO_PEERCRED); the socket file becomes
                                 UID's, mode 0600
              --timeout SECONDS  give up when no client came in time (default 60)
            """;

    /** The parsed command line. */
    record Options(Path socket, int socketFd, List<String> devices, boolean ioas, int clientUid, Duration timeout) {}

    /**
     * Runs the helper with the command line above and exits with its status.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    /**
     * Runs the helper in-process (e.g. from a launcher or a test) and returns instead of exiting.
     *
     * @param out  where the result line goes
     * @param err  where errors and the usage go
     * @param args the command line
     * @return the exit status: 0 served, 1 failed, 2 bad arguments
     */
    public static int run(PrintStream out, PrintStream err, String... args) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            err.println("iommufd4j-helper: " + e.getMessage());
            err.print(USAGE);
            return 2;
        }
        try {
            out.println("iommufd4j-helper: " + serve(o, err));
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("iommufd4j-helper: " + e.getMessage());
            return 1;
        }
    }

    static Options parse(String... args) {
        Path socket = null;
        int socketFd = -1, uid = -1;
        List<String> devices = new ArrayList<>();
        boolean ioas = false;
        Duration timeout = Duration.ofSeconds(60);
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--ioas" -> ioas = true;
                case "--socket", "--fd", "--device", "--client-uid", "--timeout" -> {
                    if (i + 1 == args.length) throw new IllegalArgumentException(a + " needs a value");
                    String v = args[++i];
                    switch (a) {
                        case "--socket" -> socket = Path.of(v);
                        case "--fd" -> socketFd = number(a, v);
                        case "--device" -> devices.add(v);
                        case "--client-uid" -> uid = number(a, v);
                        default -> timeout = Duration.ofSeconds(number(a, v));
                    }
                }
                default -> throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if ((socket == null) == (socketFd < 0)) throw new IllegalArgumentException("give one of --socket and --fd");
        return new Options(socket, socketFd, List.copyOf(devices), ioas, uid, timeout);
    }

    private static int number(String option, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n >= 0) return n;
        } catch (NumberFormatException ignored) {
            // the message below
        }
        throw new IllegalArgumentException(option + " " + v + ": not a number >= 0");
    }

    /** Opens, serves one client, closes; returns what was served. */
    static String serve(Options o, PrintStream err) throws IOException {
        List<Integer> deviceFds = new ArrayList<>();
        try (Iommufd iommufd = Iommufd.open(Backend.NATIVE)) {
            for (String d : o.devices()) {
                Path cdev = d.startsWith("/") ? Path.of(d) : VfioDevice.cdevOf(d);
                int fd = Libc.open(cdev.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
                if (fd < 0) throw new IommufdException("open", cdev.toString(), -fd);
                deviceFds.add(fd);
            }
            // The handle is dropped, not closed, when the iommufd closes: the IOAS lives on in the VMM.
            OptionalInt ioas = o.ioas() ? OptionalInt.of(iommufd.allocIoas().id()) : OptionalInt.empty();
            int[] fds = new int[1 + deviceFds.size()];
            fds[0] = iommufd.fd();
            for (int i = 0; i < deviceFds.size(); i++) fds[1 + i] = deviceFds.get(i);
            try (FdChannel client = connect(o, err)) {
                FdChannel.Peer peer = client.peer();
                client.send(Handoff.encode(o.devices(), ioas), fds);
                return "handed the iommufd, " + o.devices().size() + " device(s)" + (ioas.isPresent() ? ", ioas " + ioas.getAsInt() : "")
                        + " to pid " + peer.pid() + " (uid " + peer.uid() + ")";
            }
        } finally {
            for (int fd : deviceFds) Libc.close(fd);
        }
    }

    /** The client: the inherited socket's peer, or the first (allowed) client at the path. */
    private static FdChannel connect(Options o, PrintStream err) throws IOException {
        if (o.socketFd() >= 0) {
            FdChannel ch = FdChannel.fromFd(o.socketFd());
            try {
                checkPeer(ch, o.clientUid());
                return ch;
            } catch (IOException e) {
                ch.close();
                throw e;
            }
        }
        long deadline = System.nanoTime() + o.timeout().toNanos();
        try (FdListener listener = FdListener.bind(o.socket())) {
            if (o.clientUid() >= 0) {
                var owner = o.socket().getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(Integer.toString(o.clientUid()));
                Files.setOwner(o.socket(), owner);
                Files.setPosixFilePermissions(o.socket(), PosixFilePermissions.fromString("rw-------"));
            }
            for (;;) {
                FdChannel ch = listener.accept(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
                try {
                    checkPeer(ch, o.clientUid());
                    return ch;
                } catch (IommufdException refused) {
                    ch.close(); // someone else: wait for the right client
                    err.println("iommufd4j-helper: " + refused.getMessage());
                }
            }
        }
    }

    private static void checkPeer(FdChannel ch, int uid) throws IommufdException {
        FdChannel.Peer p = ch.peer();
        if (uid >= 0 && p.uid() != uid) {
            throw new IommufdException("serve", "pid=" + p.pid() + ", uid=" + p.uid() + ", allowed uid=" + uid, Errno.value("EACCES"));
        }
    }
}
