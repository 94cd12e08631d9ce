package io.github.iommufd4j.junit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One guest.
 *
 * @param kernel   7.3, 6.12 or the path of a bzImage
 * @param profile  the machine
 * @param memory   guest memory, QEMU's syntax (e.g. 4G)
 * @param cpus     guest CPUs
 * @param vfio     PCI devices ({@code vendor:device}, comma-separated) bound to vfio-pci; empty for the profile's default
 * @param qemuArgs further QEMU arguments
 * @param jvmArgs  further options of the guest's JVM
 * @param timeout  the guest run's limit
 */
public record GuestConfig(String kernel, Profile profile, String memory, int cpus, String vfio,
                          List<String> qemuArgs, List<String> jvmArgs, Duration timeout) {
    /** Checks the CPUs and copies the lists. */
    public GuestConfig {
        if (cpus < 1) throw new IllegalArgumentException("cpus " + cpus);
        qemuArgs = List.copyOf(qemuArgs);
        jvmArgs = List.copyOf(jvmArgs);
    }

    /**
     * A 4 GiB, 2-CPU guest, 20 minutes at most.
     *
     * @param kernel  7.3, 6.12 or the path of a bzImage
     * @param profile the machine
     * @return the configuration
     */
    public static GuestConfig of(String kernel, Profile profile) {
        return new GuestConfig(kernel, profile, "4G", 2, "", List.of(), List.of(), Duration.ofMinutes(20));
    }

    static GuestConfig of(GuestTest t) {
        return new GuestConfig(t.kernel(), t.profile(), t.memory(), t.cpus(), t.vfio(),
                Arrays.asList(t.qemuArgs()), Arrays.asList(t.jvmArgs()), Duration.ofMinutes(t.timeoutMinutes()));
    }

    /**
     * This guest with other JVM options.
     *
     * @param args options of the guest's JVM
     * @return the configuration
     */
    public GuestConfig withJvmArgs(List<String> args) {
        return new GuestConfig(kernel, profile, memory, cpus, vfio, qemuArgs, args, timeout);
    }

    /**
     * This guest with another time limit.
     *
     * @param limit the guest run's limit
     * @return the configuration
     */
    public GuestConfig withTimeout(Duration limit) {
        return new GuestConfig(kernel, profile, memory, cpus, vfio, qemuArgs, jvmArgs, limit);
    }

    /**
     * Returns a name such as "Linux 7.3 (mock)".
     *
     * @return a name such as "Linux 7.3 (mock)"
     */
    public String describe() {
        return "Linux " + kernel + " (" + profile.scriptName() + ")";
    }

    /** run-vm.sh's options for memory, CPUs, devices and QEMU arguments. */
    List<String> runVmOptions() {
        List<String> o = new ArrayList<>(List.of("--mem", memory, "--smp", Integer.toString(cpus)));
        if (!vfio.isBlank()) o.addAll(List.of("--vfio", vfio));
        for (String a : qemuArgs) o.addAll(List.of("--qemu-arg", a));
        return o;
    }
}
