package io.github.iommufd4j.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * A status line on the terminal for long work: what runs and how far, drawn on stderr from the
 * second second on, twice a second, and erased when the work ends. Nothing is drawn when stdout
 * or stderr is not a terminal (a pipe, a file, CI) or when asked to be quiet (JSON output).
 */
final class Progress implements AutoCloseable {
    /** Draws nothing. */
    static final Progress NONE = new Progress(null);

    private static final long FIRST_DRAW_MS = 2000, REDRAW_MS = 500;

    private final PrintStream err;
    private final Thread thread;
    private volatile Supplier<String> status = () -> "";
    private volatile boolean drawn;

    private Progress(PrintStream err) {
        this.err = err;
        this.thread = err == null ? null : Thread.ofPlatform().daemon().name("iommufd4j-progress").unstarted(this::draw);
    }

    /** A status line on stderr, unless {@code quiet} or stdout/stderr is not a terminal. */
    static Progress start(boolean quiet) {
        if (quiet || !terminal(1) || !terminal(2) || "dumb".equals(System.getenv("TERM"))) return NONE;
        Progress p = new Progress(System.err);
        p.thread.start();
        return p;
    }

    /** What the line shows from now on (read at each redraw). */
    void show(Supplier<String> status) {
        this.status = status;
    }

    private void draw() {
        try {
            Thread.sleep(FIRST_DRAW_MS);
            while (true) {
                String s = status.get();
                synchronized (this) {
                    // \r and erase to the end of the line: the line is redrawn in place.
                    err.print("\r\033[K" + s);
                    err.flush();
                    drawn = true;
                }
                Thread.sleep(REDRAW_MS);
            }
        } catch (InterruptedException e) {
            // closed
        }
    }

    @Override
    public void close() {
        if (thread == null) return;
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (drawn) {
                err.print("\r\033[K");
                err.flush();
            }
        }
    }

    /** Whether file descriptor {@code fd} of this process is a terminal (Linux: /proc/self/fd). */
    static boolean terminal(int fd) {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty") || target.equals("/dev/console");
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }
}
