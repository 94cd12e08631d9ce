package io.github.iommufd4j.cli;

import io.github.iommufd4j.Iommufd;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code iommufd4j fault-modes}: drain time per fault by record path ({@link FaultModes}). */
@Command(name = "fault-modes",
        description = "Drain time per fault in bursts of 16 and 256: blocking read/write, both fault pump paths, "
                + "and IORING_OP_READ with and without O_NONBLOCK.")
final class FaultModesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    int bursts;

    @Option(names = "--bursts", paramLabel = "N", defaultValue = "50",
            description = "bursts per mode and size, 1 to 10,000 (default ${DEFAULT-VALUE})")
    void bursts(int n) {
        bursts = Main.inRange(spec, "--bursts", n, 1, 10_000);
    }

    @Override
    public Integer call() throws Exception {
        if (VmCommand.inGuest(spec)) return VmCommand.runInGuest(spec);
        try (Iommufd fd = Iommufd.open()) {
            for (int burst : new int[] {16, 256}) FaultModes.run(fd, bursts, burst, System.out);
        }
        return 0;
    }
}
