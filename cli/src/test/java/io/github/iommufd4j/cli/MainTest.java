package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.junit.jupiter.api.Assertions.*;

/** The command's entry points on this host's backend. */
class MainTest {

    private static String capture(ThrowingRunnable r) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true));
        try {
            r.run();
        } finally {
            System.setOut(old);
        }
        return buf.toString();
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void usageAndUnknownCommands() throws Exception {
        assertTrue(capture(() -> assertEquals(0, Main.run(new String[] {"--help"}))).contains("usage: iommufd4j"));
        assertEquals(2, Main.run(new String[] {"no-such-command"}));
        assertEquals(2, Main.run(new String[0]));
    }

    @Test
    void infoNamesTheBackendAndTheCommands() throws Exception {
        String out = capture(() -> Main.run(new String[] {"info"}));
        assertTrue(out.contains("backend: "), out);
        assertTrue(out.contains("IOMMU_FAULT_QUEUE_ALLOC"), out);
        assertTrue(out.contains("mock driver"), out);
    }

    @Test
    void demoHandlesEveryFaultAndChecksDma() throws Exception {
        String out = capture(() -> assertEquals(0, Main.run(new String[] {"demo", "--json", "--faults", "3000", "--devices", "3"})));
        assertTrue(out.contains("\"faults\":3000"), out);
        assertTrue(out.contains("\"dma_checked\":true"), out);
        assertTrue(out.contains("\"handler_errors\":0"), out);
        String table = capture(() -> Main.run(new String[] {"demo", "--faults", "500"}));
        assertTrue(table.contains("faults          500"), table);
        assertTrue(table.contains("latency p99"), table);
    }
}
