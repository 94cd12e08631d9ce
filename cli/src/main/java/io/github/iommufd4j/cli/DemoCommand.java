package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code iommufd4j demo}: the main job end to end ({@link Demo}); exit 1 when one of its checks fails. */
@Command(name = "demo", sortOptions = false,
        description = {"The main job end to end: an IOAS with a mapped buffer and DMA through it checked, mock devices "
                + "behind nested IOPF-capable page tables with fault queues, and I/O page faults moved by the io_uring "
                + "fault pump. Prints faults, groups, batches, p50/p99 latency and faults/s.",
                "Exit 1 when the DMA check fails, a fault is not handled or the handler reports errors."})
final class DemoCommand implements Callable<Integer> {
    static final int MAX_FAULTS = 10_000_000, MAX_DEVICES = 64;

    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "one JSON object instead of the table")
    boolean json;

    int faults, devices;

    @Option(names = "--faults", paramLabel = "N", defaultValue = "10000",
            description = "I/O page faults to trigger, 1 to 10,000,000 (default ${DEFAULT-VALUE})")
    void faults(int n) {
        faults = Main.inRange(spec, "--faults", n, 1, MAX_FAULTS);
    }

    @Option(names = "--devices", paramLabel = "N", defaultValue = "4",
            description = "mock devices, each with its own fault queue, 1 to 64 (default ${DEFAULT-VALUE})")
    void devices(int n) {
        devices = Main.inRange(spec, "--devices", n, 1, MAX_DEVICES);
    }

    @Override
    public Integer call() throws Exception {
        if (VmCommand.inGuest(spec)) return VmCommand.runInGuest(spec);
        PrintWriter out = spec.commandLine().getOut();
        Demo.Result r;
        try (Iommufd fd = Iommufd.open(); Progress progress = Progress.start(json)) {
            r = Demo.run(fd, devices, faults, progress);
        }
        Demo.print(r, json, out);
        List<String> failed = failures(r, faults);
        for (String f : failed) spec.commandLine().getErr().println(spec.qualifiedName() + ": " + f);
        return failed.isEmpty() ? 0 : 1;
    }

    /** The checks the result did not pass. */
    static List<String> failures(Demo.Result r, long requested) {
        List<String> failed = new ArrayList<>();
        if (!r.dmaChecked()) failed.add("the DMA check failed: what was read back through the IOAS differs from what was written");
        if (r.faults() < requested) failed.add("only " + r.faults() + " of " + requested + " faults were handled");
        if (r.handlerErrors() > 0) failed.add("the fault handler reported " + r.handlerErrors() + " errors");
        return failed;
    }
}
