package io.github.iommufd4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code iommufd4j jshell}: the project's ./jshell (./iommufd4j runs it directly; this command
 * is for its help and for {@code java -jar}).
 */
@Command(name = "jshell", sortOptions = false,
        description = "jshell with the API imported and `fd` an open Iommufd (the best backend here, the native one with --vm).")
final class JshellCommand implements Callable<Integer> {
    @Option(names = "--vm", description = "inside a QEMU guest with the kernel's iommufd")
    boolean vm;

    @Option(names = "--install", description = "with --vm: install what the guest needs and this host lacks (needs root)")
    boolean install;

    @Override
    public Integer call() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", Main.home().resolve("jshell").toString()));
        if (vm) cmd.add("--vm");
        if (install) cmd.add("--install");
        return new ProcessBuilder(cmd).inheritIO().start().waitFor();
    }
}
