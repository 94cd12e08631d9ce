package io.github.iommufd4j.helper;

import io.github.iommufd4j.FdChannel;
import io.github.iommufd4j.FdPassingException;
import io.github.iommufd4j.FdPassingException.Reason;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.ReceivedFds;
import io.github.iommufd4j.VfioDevice;
import io.github.iommufd4j.bindings.Errno;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * What the {@link Helper} hands a sandboxed VMM: the iommufd, the VFIO device cdevs it opened
 * and, if it allocated one, an IOAS id, in one message over a UNIX socket. The VMM's side:
 *
 * <pre>{@code
 * try (Handoff h = Handoff.receive(Path.of("/run/vmm/iommufd.sock"), Duration.ofSeconds(30));
 *      Iommufd fd = h.iommufd()) {                                    // Iommufd.fromFd, checked
 *     VfioDevice dev = h.device(fd, "/dev/vfio/devices/vfio0");      // VfioDevice.fromFd: bound
 *     Ioas ioas = h.adoptIoas(fd);                                    // the helper's IOAS, now ours
 *     dev.attach(ioas.id());
 *     ioas.map(guestRam, 0, Access.READ_WRITE);
 * }
 * }</pre>
 *
 * The received descriptors belong to the Handoff until adopted: {@link #close()} closes the
 * ones not adopted, and a refused adoption leaves its descriptor there, so nothing leaks.
 *
 * <p>The message (UTF-8 text, one line per descriptor in order, then the IOAS):
 * <pre>
 * iommufd4j-handoff 1
 * iommufd
 * device /dev/vfio/devices/vfio0
 * ioas 1
 * </pre>
 */
public final class Handoff implements AutoCloseable {
    static final String HEADER = "iommufd4j-handoff 1";
    static final int MAX_PAYLOAD = 4096;
    /** The helper sends the iommufd first, then the devices. */
    private static final int IOMMUFD = 0;

    private final ReceivedFds fds;
    private final List<String> devices;
    private final OptionalInt ioas;

    private Handoff(ReceivedFds fds, List<String> devices, OptionalInt ioas) {
        this.fds = fds;
        this.devices = devices;
        this.ioas = ioas;
    }

    /**
     * Connects to the helper's socket, waiting for it to appear (the VMM may start first), and
     * receives the handoff; all within {@code timeout}.
     *
     * @param socket  the helper's socket file ({@code --socket})
     * @param timeout the longest wait for the socket and the message
     * @return the handoff, owning the received descriptors until they are adopted
     * @throws IommufdException the errno of connecting (e.g. EACCES) or receiving; an
     *         {@link io.github.iommufd4j.FdPassingException} for a timeout, a closed peer or a message
     *         that is no handoff (every descriptor it carried closed)
     */
    public static Handoff receive(Path socket, Duration timeout) throws IommufdException {
        long deadline = System.nanoTime() + java.util.Objects.requireNonNull(timeout, "timeout").toNanos();
        try (FdChannel ch = connect(socket, deadline)) {
            return receive(ch, Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        }
    }

    private static FdChannel connect(Path socket, long deadline) throws IommufdException {
        for (;;) {
            try {
                return FdChannel.connect(socket);
            } catch (IommufdException e) {
                boolean notYet = e.errnoName().equals("ENOENT") || e.errnoName().equals("ECONNREFUSED");
                if (!notYet || System.nanoTime() - deadline > 0) throw e;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IommufdException("connect", "socket=" + socket, Errno.value("EINTR"));
            }
        }
    }

    /**
     * Receives the handoff on an open channel (e.g. an inherited socket, {@link FdChannel#fromFd}).
     *
     * @param channel the connection to the helper
     * @param timeout the longest wait, or {@code null} for no limit
     * @return the handoff, owning the received descriptors until they are adopted
     * @throws IommufdException the errno of receiving; an {@link io.github.iommufd4j.FdPassingException}
     *         for a timeout, a closed peer or a message that is no handoff (BAD_PAYLOAD,
     *         WRONG_FD_COUNT; every descriptor it carried closed)
     */
    public static Handoff receive(FdChannel channel, Duration timeout) throws IommufdException {
        ReceivedFds m = channel.receive(MAX_PAYLOAD, FdChannel.MAX_FDS, timeout);
        try {
            return parse(m);
        } catch (Throwable t) {
            m.close();
            throw t;
        }
    }

    private static Handoff parse(ReceivedFds m) throws FdPassingException {
        String text = new String(m.payload(), StandardCharsets.UTF_8);
        List<String> lines = text.lines().toList();
        if (lines.size() < 2 || !lines.get(0).equals(HEADER) || !lines.get(1).equals("iommufd")) {
            throw bad(Reason.BAD_PAYLOAD, "not an iommufd4j handoff: " + first(text));
        }
        List<String> devices = new ArrayList<>();
        OptionalInt ioas = OptionalInt.empty();
        for (String line : lines.subList(2, lines.size())) {
            if (line.startsWith("device ") && ioas.isEmpty()) {
                devices.add(line.substring(7));
            } else if (line.startsWith("ioas ") && ioas.isEmpty()) {
                try {
                    ioas = OptionalInt.of(Integer.parseInt(line.substring(5)));
                } catch (NumberFormatException e) {
                    throw bad(Reason.BAD_PAYLOAD, "bad line: " + first(line));
                }
            } else {
                throw bad(Reason.BAD_PAYLOAD, "bad line: " + first(line));
            }
        }
        if (m.count() != 1 + devices.size()) {
            throw bad(Reason.WRONG_FD_COUNT, m.count() + " arrived, " + (1 + devices.size()) + " announced");
        }
        return new Handoff(m, List.copyOf(devices), ioas);
    }

    private static FdPassingException bad(Reason reason, String detail) {
        return new FdPassingException("Handoff.receive", "", reason, detail);
    }

    private static String first(String s) {
        return s.length() <= 60 ? s : s.substring(0, 60) + "...";
    }

    /** The payload for these devices and IOAS (the helper's side). */
    static byte[] encode(List<String> devices, OptionalInt ioas) {
        StringBuilder b = new StringBuilder(HEADER).append("\niommufd\n");
        for (String d : devices) {
            if (d.contains("\n")) throw new IllegalArgumentException("device name with a newline: " + d);
            b.append("device ").append(d).append('\n');
        }
        ioas.ifPresent(id -> b.append("ioas ").append(id).append('\n'));
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The iommufd, adopted ({@link Iommufd#fromFd}, which checks it): the returned handle owns
     * the descriptor from now on. Refused: the descriptor stays here, closed with the Handoff.
     *
     * @return the iommufd
     * @throws IommufdException as {@link Iommufd#fromFd}
     * @throws IllegalStateException when it was adopted already or the Handoff is closed
     */
    public Iommufd iommufd() throws IommufdException {
        synchronized (fds) {
            Iommufd fd = Iommufd.fromFd(fds.fd(IOMMUFD));
            fds.take(IOMMUFD);
            return fd;
        }
    }

    /**
     * The devices' names as the helper opened them (cdev paths), in the order of their descriptors.
     *
     * @return the names, unmodifiable
     */
    public List<String> devices() {
        return devices;
    }

    /**
     * The device the helper opened as {@code name}, bound to {@code iommufd}
     * ({@link VfioDevice#fromFd}, which checks it); the device owns the descriptor from now on.
     * Refused: the descriptor stays here, closed with the Handoff.
     *
     * @param iommufd the iommufd to bind it to (the handed-over one)
     * @param name    one of {@link #devices()}
     * @return the bound device
     * @throws IommufdException as {@link VfioDevice#fromFd}
     * @throws IllegalArgumentException when the helper sent no such device
     * @throws IllegalStateException when it was adopted already or the Handoff is closed
     */
    public VfioDevice device(Iommufd iommufd, String name) throws IommufdException {
        int i = devices.indexOf(name);
        if (i < 0) throw new IllegalArgumentException("the helper sent no device " + name + ": " + devices);
        synchronized (fds) {
            VfioDevice d = VfioDevice.fromFd(iommufd, fds.fd(IOMMUFD + 1 + i));
            fds.take(IOMMUFD + 1 + i);
            return d;
        }
    }

    /**
     * The id of the IOAS the helper allocated in the iommufd, if it did ({@code --ioas}).
     *
     * @return the id, or empty
     */
    public OptionalInt ioasId() {
        return ioas;
    }

    /**
     * A handle owning the helper's IOAS ({@link Iommufd#adoptIoas}: closing it destroys the IOAS).
     *
     * @param iommufd the handed-over iommufd
     * @return the IOAS
     * @throws IommufdException as {@link Iommufd#adoptIoas}
     * @throws IllegalStateException when the helper allocated no IOAS
     */
    public Ioas adoptIoas(Iommufd iommufd) throws IommufdException {
        return iommufd.adoptIoas(ioas.orElseThrow(() -> new IllegalStateException("the helper allocated no IOAS")));
    }

    /** Closes the descriptors not adopted. Idempotent. */
    @Override
    public void close() {
        fds.close();
    }

    /**
     * The devices, the IOAS and the descriptors.
     *
     * @return a one-line description
     */
    @Override
    public String toString() {
        return "Handoff[devices=" + devices + ", ioas=" + ioas + ", " + fds + "]";
    }
}
