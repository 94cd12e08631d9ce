package io.github.iommufd4j.junit;

import org.opentest4j.TestAbortedException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.PrintWriter;
import java.io.Serial;
import java.io.Serializable;
import java.io.StringWriter;

/**
 * What one test or container did in the guest, by its JUnit unique ID (the same on the host,
 * which discovers the same classes): passed, failed (the exception, serialized when it can be,
 * and its printed stack trace), aborted or disabled (the reason).
 *
 * @param uniqueId    the JUnit unique ID
 * @param parentId    the parent's unique ID, null for an engine
 * @param displayName the display name
 * @param test        whether it is a test (else a container)
 * @param status      what it did
 * @param reason      why it was aborted or disabled, or the failure's message
 * @param serialized  the failure, Java-serialized, or null
 * @param trace       the failure's printed stack trace, or null
 */
public record Outcome(String uniqueId, String parentId, String displayName, boolean test, Status status,
                      String reason, byte[] serialized, String trace) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** The outcome of a test or container. */
    public enum Status {
        /** Passed. */
        SUCCESSFUL,
        /** Threw. */
        FAILED,
        /** Aborted (an assumption failed). */
        ABORTED,
        /** Disabled (not run). */
        DISABLED
    }

    static Outcome of(String uniqueId, String parentId, String displayName, boolean test, Status status, Throwable t,
                      String reason) {
        byte[] bytes = null;
        String trace = null;
        if (t != null) {
            StringWriter w = new StringWriter();
            t.printStackTrace(new PrintWriter(w));
            trace = w.toString();
            try {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                try (ObjectOutputStream o = new ObjectOutputStream(out)) {
                    o.writeObject(t);
                }
                bytes = out.toByteArray();
            } catch (IOException notSerializable) {
                bytes = null; // the printed trace stands in for it
            }
            if (reason == null) reason = t.getMessage();
        }
        return new Outcome(uniqueId, parentId, displayName, test, status, reason, bytes, trace);
    }

    /**
     * Replays this outcome on the host: returns if it passed, throws the guest's exception (with
     * the console's tail as a suppressed exception) if it failed, and aborts if it was skipped.
     */
    void replay(String guest, String consoleTail) throws Throwable {
        switch (status) {
            case SUCCESSFUL -> { }
            case ABORTED -> throw new TestAbortedException("aborted in the guest, " + guest + ": " + reason);
            case DISABLED -> throw new TestAbortedException("disabled in the guest, " + guest + ": " + reason);
            case FAILED -> {
                Throwable t = throwable(guest);
                t.addSuppressed(new GuestConsole(guest, consoleTail));
                throw t;
            }
        }
    }

    /** The guest's exception: deserialized (its own type, message and stack) or rebuilt from its printed trace. */
    Throwable throwable(String guest) {
        if (serialized != null) {
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(serialized)) {
                @Override
                protected Class<?> resolveClass(java.io.ObjectStreamClass desc) throws IOException, ClassNotFoundException {
                    try {
                        return Class.forName(desc.getName(), false, Thread.currentThread().getContextClassLoader());
                    } catch (ClassNotFoundException e) {
                        return super.resolveClass(desc);
                    }
                }
            }) {
                return (Throwable) in.readObject();
            } catch (IOException | ClassNotFoundException | ClassCastException e) {
                // fall through to the printed trace
            }
        }
        return new AssertionError("failed in the guest, " + guest + ":\n" + trace);
    }

    /** The guest console's last lines, attached to a failure replayed on the host. */
    static final class GuestConsole extends RuntimeException {
        @Serial
        private static final long serialVersionUID = 1L;

        GuestConsole(String guest, String tail) {
            super("guest console tail, " + guest + ":\n" + tail, null, false, false);
        }
    }
}
