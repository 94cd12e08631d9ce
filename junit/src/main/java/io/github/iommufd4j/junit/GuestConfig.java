package io.github.iommufd4j.junit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One guest: kernel (7.3, 6.12 or a bzImage path), profile, memory, CPUs, PCI devices for
 * vfio-pci (empty: the profile's default), QEMU arguments, guest JVM options and a time limit.
 */
public record GuestConfig(String kernel, Profile profile, String memory, int cpus, String vfio,
                          List<String> qemuArgs, List<String> jvmArgs, Duration timeout) {
    public GuestConfig {
        if (cpus < 1) throw new IllegalArgumentException("cpus " + cpus);
        qemuArgs = List.copyOf(qemuArgs);
        jvmArgs = List.copyOf(jvmArgs);
    }

    /** A 4 GiB, 2-CPU guest of {@code kernel} and {@code profile}, 20 minutes at most. */
    public static GuestConfig of(String kernel, Profile profile) {
        return new GuestConfig(kernel, profile, "4G", 2, "", List.of(), List.of(), Duration.ofMinutes(20));
    }

    static GuestConfig of(GuestTest t) {
        return new GuestConfig(t.kernel(), t.profile(), t.memory(), t.cpus(), t.vfio(),
                Arrays.asList(t.qemuArgs()), Arrays.asList(t.jvmArgs()), Duration.ofMinutes(t.timeoutMinutes()));
    }

    public GuestConfig withJvmArgs(List<String> args) {
        return new GuestConfig(kernel, profile, memory, cpus, vfio, qemuArgs, args, timeout);
    }

    public GuestConfig withTimeout(Duration limit) {
        return new GuestConfig(kernel, profile, memory, cpus, vfio, qemuArgs, jvmArgs, limit);
    }

    /** "Linux 7.3 (mock)". */
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
