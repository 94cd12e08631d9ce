package io.github.iommufd4j.cli;

import io.github.iommufd4j.Info;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code iommufd4j info}: the library's self-check ({@link Info}). */
@Command(name = "info",
        description = "The backend chosen and why, which iommufd commands the kernel has, the mock driver, VFIO devices.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (VmCommand.inGuest(spec)) return VmCommand.runInGuest(spec);
        Info.main(new String[0]);
        return 0;
    }
}
