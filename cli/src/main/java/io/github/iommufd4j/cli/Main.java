package io.github.iommufd4j.cli;

import io.github.iommufd4j.Info;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;

import java.util.Arrays;
import java.util.List;

/** {@code iommufd4j <command>}: info, demo. */
public final class Main {
    private Main() {}

    static final String USAGE = """
            usage: iommufd4j <command> [options]
              info                       backend chosen and why, kernel iommufd support, devices
              demo [--json] [--faults N] [--devices N]
                                         the main job end to end: IOAS, mapping, DMA check, mock devices
                                         behind IOPF-capable page tables, faults through the io_uring pump
              fault-modes [--bursts N]   drain time per fault: blocking, pump (both record paths), IORING_OP_READ with and without O_NONBLOCK
              vm <info|demo|fault-modes> [--kernel 7.3|6.12]
                                         the same inside a QEMU guest with the kernel's iommufd
              bench [--smoke|--quick|--full], vm bench [...] [--kernel 7.3|6.12]
                                         the benchmark table: Java against C, io_uring against blocking,
                                         software backend against the kernel (module bench/, run by the script)
            backend: -Diommufd4j.backend=AUTO|NATIVE|SOFTWARE (default AUTO: native when /dev/iommu opens)
            """;

    public static void main(String[] args) throws Exception {
        System.exit(run(args));
    }

    static int run(String[] args) throws Exception {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            System.out.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        switch (args[0]) {
            case "info" -> Info.main(new String[0]);
            case "demo" -> {
                boolean json = rest.contains("--json");
                int faults = intOption(rest, "--faults", 10_000);
                int devices = intOption(rest, "--devices", 4);
                try (Iommufd fd = Iommufd.open()) {
                    Demo.print(Demo.run(fd, devices, faults), json, System.out);
                } catch (IommufdException | IllegalStateException e) {
                    System.err.println("iommufd4j demo: " + e.getMessage());
                    return 1;
                }
            }
            case "fault-modes" -> {
                try (Iommufd fd = Iommufd.open()) {
                    for (int burst : new int[] {16, 256}) {
                        FaultModes.run(fd, intOption(rest, "--bursts", 50), burst, System.out);
                    }
                }
            }
            default -> {
                System.err.print("iommufd4j: unknown command " + args[0] + "\n" + USAGE);
                return 2;
            }
        }
        return 0;
    }

    static int intOption(List<String> args, String name, int dflt) {
        int i = args.indexOf(name);
        return i >= 0 && i + 1 < args.size() ? Integer.parseInt(args.get(i + 1)) : dflt;
    }
}
