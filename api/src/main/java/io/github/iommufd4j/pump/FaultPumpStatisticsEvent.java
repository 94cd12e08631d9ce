package io.github.iommufd4j.pump;

import io.github.iommufd4j.internal.JfrSwitch;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.FlightRecorder;
import jdk.jfr.FlightRecorderListener;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Period;
import jdk.jfr.StackTrace;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * JFR: a running pump's counters (since it started), one event per pump each period, and a last
 * one when the pump closes. Pumps register on start and unregister on close; the periodic hook
 * is added to JFR once, when the recorder initializes (so a process that never records does not
 * initialize JFR for it). The counters are read from JFR's periodic thread, as from any thread.
 */
@Name("io.github.iommufd4j.FaultPumpStatistics")
@Label("iommufd Fault Pump Statistics")
@Category({"iommufd4j"})
@Description("A fault pump's counters since it started: faults, groups, batches, handler errors, groups waiting for an answer")
@Period("1 s")
@StackTrace(false)
final class FaultPumpStatisticsEvent extends Event {
    @Label("Pump")
    @Description("The pump thread's name")
    String pump;
    @Label("Record path")
    String recordPath;
    @Label("Fault queues")
    int faultQueues;
    @Label("Event queues")
    int eventQueues;
    @Label("Faults")
    @Description("Fault records handed to the handler")
    long faults;
    @Label("Groups")
    @Description("Page request groups handed to the handler")
    long groups;
    @Label("Batches")
    @Description("Reads that brought fault records or vEVENTs: faults / batches is the mean batch")
    long batches;
    @Label("vEVENTs")
    long events;
    @Label("Loss marks")
    @Description("Places where an event queue overflowed")
    long lossMarks;
    @Label("Handler errors")
    long handlerErrors;
    @Label("Outstanding")
    @Description("Groups waiting for a deferred answer")
    int outstanding;
    @Label("Max outstanding")
    int maxOutstanding;
    @Label("Rejected answers")
    long rejectedAnswers;
    @Label("Refused answers")
    long refusedAnswers;
    @Label("Dropped queues")
    long droppedQueues;
    @Label("Closed")
    @Description("The pump's last event, committed as it closed")
    boolean closed;

    /** What a pump was started with. */
    private record Pump(int faultQueues, int eventQueues, int maxOutstanding) {}

    private static final JfrSwitch SWITCH = new JfrSwitch(FaultPumpStatisticsEvent.class);
    private static final ConcurrentMap<FaultPump, Pump> PUMPS = new ConcurrentHashMap<>();
    private static boolean hooked;

    /** A started pump: reported each period from now on. */
    static void register(FaultPump p, int faultQueues, int eventQueues, int maxOutstanding) {
        PUMPS.put(p, new Pump(faultQueues, eventQueues, maxOutstanding));
        hook();
    }

    /** A closing pump: its last event (if a recording wants it), then no more. */
    static void unregister(FaultPump p) {
        Pump config = PUMPS.remove(p);
        if (config != null && SWITCH.on()) emit(p, config, true);
    }

    private static synchronized void hook() {
        if (hooked) return;
        hooked = true;
        FlightRecorder.addListener(new FlightRecorderListener() { // runs at once if JFR is initialized already
            @Override
            public void recorderInitialized(FlightRecorder recorder) {
                FlightRecorder.addPeriodicEvent(FaultPumpStatisticsEvent.class, FaultPumpStatisticsEvent::emitAll);
            }
        });
    }

    private static void emitAll() {
        PUMPS.forEach((p, config) -> emit(p, config, false));
    }

    private static void emit(FaultPump p, Pump config, boolean closed) {
        FaultPumpStatisticsEvent e = new FaultPumpStatisticsEvent();
        e.pump = p.threadName();
        e.recordPath = p.recordPath().name();
        e.faultQueues = config.faultQueues();
        e.eventQueues = config.eventQueues();
        e.faults = p.faults();
        e.groups = p.groups();
        e.batches = p.batches();
        e.events = p.events();
        e.lossMarks = p.lossMarks();
        e.handlerErrors = p.handlerErrors();
        e.outstanding = p.outstanding();
        e.maxOutstanding = config.maxOutstanding();
        e.rejectedAnswers = p.rejectedAnswers();
        e.refusedAnswers = p.refusedAnswers();
        e.droppedQueues = p.droppedQueues();
        e.closed = closed;
        e.commit();
    }
}
