package io.github.iommufd4j.cli;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code iommufd4j <command>}. Exit status: 0 done, 1 the work could not be done or a check
 * failed, 2 the command line is wrong (one line saying why, then the usage).
 */
@Command(name = "iommufd4j", scope = ScopeType.INHERIT, mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class, sortOptions = false, usageHelpAutoWidth = true,
        description = "The Java library for the Linux iommufd (/dev/iommu), end to end, on this host or in a QEMU guest.",
        subcommands = {CommandLine.HelpCommand.class, InfoCommand.class, DemoCommand.class, FaultModesCommand.class,
                BenchCommand.class, VmCommand.class, JshellCommand.class},
        footer = {"", "Exit status: 0 done, 1 the work failed or a check did not pass, 2 wrong usage.",
                "`iommufd4j help COMMAND` or `iommufd4j COMMAND --help` for a command's options."})
public final class Main implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--backend", paramLabel = "auto|native|software", order = 100, scope = ScopeType.INHERIT,
            description = "the backend of Iommufd.open(): native is the kernel's /dev/iommu, software the in-process one, "
                    + "auto native when /dev/iommu opens (default)")
    void backend(Backend backend) {
        System.setProperty(Iommufd.BACKEND_PROPERTY, backend.name());
    }

    @Option(names = "--software-kernel", paramLabel = "7.3|6.12", order = 101, scope = ScopeType.INHERIT, converter = SoftwareKernel.class,
            description = "the Linux release whose behaviour the software backend reproduces (default 7.3)")
    void softwareKernel(String release) {
        System.setProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY, release);
    }

    /**
     * The library's INFO messages (e.g. that AUTO chose the software backend) stay out of the
     * command's stderr: the commands print the backend and why themselves. Held here so the
     * level holds (loggers are weakly referenced).
     */
    private static final Logger LIBRARY_LOG = Logger.getLogger("io.github.iommufd4j");

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line; output goes to System.out/err as they are at the call. */
    static int run(String... args) {
        String backend = System.getProperty(Iommufd.BACKEND_PROPERTY);
        String kernel = System.getProperty(Iommufd.SOFTWARE_KERNEL_PROPERTY);
        try {
            return commandLine().execute(args);
        } finally {
            restore(Iommufd.BACKEND_PROPERTY, backend);
            restore(Iommufd.SOFTWARE_KERNEL_PROPERTY, kernel);
        }
    }

    static CommandLine commandLine() {
        LIBRARY_LOG.setLevel(Level.WARNING);
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setOut(new PrintWriter(System.out, true));
        cl.setErr(new PrintWriter(System.err, true));
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + oneLine(e));
            return 1;
        });
        return cl;
    }

    /** No command given. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "a command is missing");
    }

    /** Wrong usage: the reason in one line, the command's synopsis, where to read more; exit 2. */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        String name = cmd.getCommandSpec().qualifiedName();
        String message = e.getMessage().lines().findFirst().orElse("wrong usage");
        if (e instanceof CommandLine.UnmatchedArgumentException u && !cmd.getSubcommands().isEmpty()
                && !u.getUnmatched().isEmpty() && !u.getUnmatched().getFirst().startsWith("-")) {
            message = "unknown command '" + u.getUnmatched().getFirst() + "'";
        }
        err.println(name + ": " + message);
        CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
        err.print("Usage: " + cmd.getHelp().synopsis("Usage: ".length()));
        err.println("Try '" + name + " --help' for more information.");
        return cmd.getCommandSpec().exitCodeOnInvalidInput();
    }

    /** The message of an error and its causes, on one line. */
    static String oneLine(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (!sb.isEmpty()) sb.append(": ");
            sb.append(t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName());
        }
        return sb.toString().replaceAll("\\s*\\R\\s*", " ");
    }

    /** {@code value} if within [min, max], else a usage error naming the option and the range. */
    static int inRange(CommandSpec spec, String option, int value, int min, int max) {
        if (value < min || value > max) {
            throw new ParameterException(spec.commandLine(), String.format(Locale.ROOT,
                    "Invalid value for option '%s': %d is not in %,d..%,d", option, value, min, max));
        }
        return value;
    }

    /**
     * The project's directory (scripts, vm-tests, bench): {@code -Diommufd4j.home} (set by
     * ./iommufd4j), else found from this jar's place, cli/target.
     */
    static Path home() {
        String prop = System.getProperty("iommufd4j.home");
        if (prop != null) return Path.of(prop);
        try {
            Path p = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path d = p; d != null; d = d.getParent()) {
                if (Files.isDirectory(d.resolve("vm-tests")) && Files.isRegularFile(d.resolve("iommufd4j"))) return d;
            }
        } catch (URISyntaxException | RuntimeException e) {
            // fall through
        }
        throw new IllegalStateException("cannot find the iommufd4j project directory: run ./iommufd4j, or set -Diommufd4j.home");
    }

    /** The project's version, from the build. */
    static String version() {
        Properties p = new Properties();
        try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            // unknown
        }
        return p.getProperty("version", "unknown");
    }

    private static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }

    /** The software backend's releases. */
    static final class SoftwareKernel implements CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (value.equals("7.3") || value.equals("6.12")) return value;
            throw new CommandLine.TypeConversionException("expected 7.3 or 6.12 but was '" + value + "'");
        }
    }

    /** {@code --version}: the project's version (from the build), the JDK and the kernel. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"iommufd4j " + version(),
                    String.format(Locale.ROOT, "Java %s (%s), %s %s", Runtime.version(), System.getProperty("java.vm.name"),
                            System.getProperty("os.name"), System.getProperty("os.version"))};
        }
    }
}
