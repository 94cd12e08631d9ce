package io.github.iommufd4j.bench;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordingFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A JFR recording of every event of the library (thresholds 0, the pump's statistics each second,
 * written to a temporary file) for the benchmarks that compare JFR off with a recording on.
 * {@link #close()} stops it and counts the library's events in the file, then deletes it.
 */
final class JfrCost implements AutoCloseable {
    static final List<String> EVENTS = List.of("IoctlFailure", "IoasMap", "IoasUnmap", "Invalidate", "FaultBatch", "FaultPumpStatistics");
    private static final String PREFIX = "io.github.iommufd4j.";

    private final Recording recording = new Recording();
    private final Path file;
    private long events = -1;

    JfrCost() throws IOException {
        file = Files.createTempFile("iommufd4j-bench", ".jfr");
        for (String e : EVENTS) recording.enable(PREFIX + e).withThreshold(Duration.ZERO);
        recording.enable(PREFIX + "FaultPumpStatistics").withPeriod(Duration.ofSeconds(1));
        recording.setDestination(file);
        recording.start();
    }

    /** The library's events in the recording, once closed. */
    long events() {
        return events;
    }

    @Override
    public void close() throws IOException {
        recording.stop(); // writes the file
        recording.close();
        long n = 0;
        try (RecordingFile f = new RecordingFile(file)) {
            while (f.hasMoreEvents()) if (f.readEvent().getEventType().getName().startsWith(PREFIX)) n++;
        } finally {
            Files.deleteIfExists(file);
        }
        events = n;
    }
}
