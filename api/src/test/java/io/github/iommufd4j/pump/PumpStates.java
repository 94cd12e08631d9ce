package io.github.iommufd4j.pump;

import io.github.iommufd4j.internal.HandleStates;

/** The inner state of a pump for hang reports: its loop and, per queue, what the ring holds. */
public final class PumpStates {
    private PumpStates() {}

    /** One line per pump and per queue it serves (racy reads: for diagnostics only); "" once its thread ended. */
    public static String describe(FaultPump p) {
        PumpLoop l = p.loop;
        if (l.thread.getState() == Thread.State.TERMINATED) return "";
        StringBuilder b = new StringBuilder();
        b.append(p).append(" thread ").append(l.thread.getState()).append(", stopping ").append(l.stopping)
                .append(", turn ").append(l.turn).append(", writes in flight ").append(l.writesInFlight)
                .append(", noWait ").append(l.noWait).append(", wake armed ").append(l.wakeArmed).append(", woken ").append(l.woken)
                .append(", ring ").append(l.ring).append('\n');
        for (FaultSource s : l.faultSources) {
            b.append("    ").append(s.describe()).append(": retired ").append(s.retired).append(", busy ").append(s.busy)
                    .append(", ready ").append(s.ready).append(", write in flight ").append(s.writeInFlight())
                    .append(", fd ").append(s.fd).append(", queue closed ").append(s.queueClosed())
                    .append(", queue calls in flight ").append(HandleStates.of(s.queue).inFlight())
                    .append(", failure ").append(s.failure()).append('\n');
        }
        return b.toString();
    }
}
