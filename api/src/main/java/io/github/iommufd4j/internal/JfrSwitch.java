package io.github.iommufd4j.internal;

import jdk.jfr.Event;
import jdk.jfr.EventType;
import jdk.jfr.FlightRecorder;

import java.util.function.Supplier;

/**
 * Whether a running JFR recording wants one event class: the check an event makes before it
 * creates an instance, so that a hot path allocates nothing while no recording asks for the
 * event. Until JFR is initialized (no recording was ever created in this JVM) the answer is a
 * static field read; after that, the event type's enabled flag (looked up on first use). Only
 * event classes refer to it, so it is loaded only behind {@link Jfr#PRESENT}.
 */
public final class JfrSwitch {
    private final Class<? extends Event> event;
    private volatile EventType type; // a benign race: every thread finds the same type

    /**
     * A switch for one event class.
     *
     * @param event the event class (an initialized one: its static initializer registered it)
     */
    public JfrSwitch(Class<? extends Event> event) {
        this.event = event;
    }

    /**
     * Whether a recording is running that records the event.
     *
     * @return true if an instance created now would be committed (thresholds aside)
     */
    public boolean on() {
        if (!FlightRecorder.isInitialized()) return false;
        EventType t = type;
        if (t == null) type = t = EventType.getEventType(event);
        return t.isEnabled();
    }

    /**
     * A started instance of the event (a duration event: {@code begin()} called) if a recording
     * wants it, else null: no object while it is off.
     *
     * @param <E>   the event class
     * @param event makes an instance, e.g. {@code SomeEvent::new}
     * @return the started event, or null
     */
    public <E extends Event> E started(Supplier<E> event) {
        if (!on()) return null;
        E e = event.get();
        e.begin();
        return e;
    }
}
