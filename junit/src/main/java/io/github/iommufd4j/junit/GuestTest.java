package io.github.iommufd4j.junit;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs the annotated test class inside a QEMU guest with the kernel's iommufd.
 *
 * <p>On the host, {@link GuestExtension} boots one guest for the class, runs the class there
 * with the JUnit Platform (from this JVM's test class path, seen by the guest at the same paths)
 * and replays each test's outcome as the host's outcome of that test: the report shows every
 * test by its own name, passed, failed (the guest's exception and stack trace, with the guest
 * console's tail attached as a suppressed exception) or skipped. The class's lifecycle methods
 * ({@code @BeforeAll}, {@code @BeforeEach}, ...) run only in the guest; its constructor and field
 * initialisers run on the host too, so keep kernel work out of them.
 *
 * <p>Where the kernel's iommufd already works (inside the guest, or a host with a usable
 * {@code /dev/iommu}) the tests run directly; {@code -Diommufd4j.vm.force=true} boots the guest
 * anyway. Without QEMU, or when the kernel can neither be found nor built, the class is skipped
 * with the reason; {@code -Diommufd4j.vm.skip=true} skips it too.
 * {@code -Diommufd4j.vm.launcher=container} runs QEMU in a container (Testcontainers, which
 * must then be on the test class path).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@ExtendWith(GuestExtension.class)
public @interface GuestTest {
    /**
     * Returns Linux 7.3 or 6.12 (built and cached on first use), or the path of a bzImage.
     *
     * @return Linux 7.3 or 6.12 (built and cached on first use), or the path of a bzImage
     */
    String kernel() default "7.3";

    /**
     * Returns the guest machine.
     *
     * @return the guest machine
     */
    Profile profile() default Profile.MOCK;

    /**
     * Returns guest memory, QEMU's syntax.
     *
     * @return guest memory, QEMU's syntax
     */
    String memory() default "4G";

    /**
     * Returns guest CPUs.
     *
     * @return guest CPUs
     */
    int cpus() default 2;

    /**
     * PCI devices ({@code vendor:device}, comma-separated) bound to vfio-pci in the guest; empty
     * for the profile's default (the edu device with intel, intel-sm and virtio, none with mock).
     * Add the device to the machine with {@link #qemuArgs()}.
     *
     * @return the devices, or empty
     */
    String vfio() default "";

    /**
     * Returns further QEMU arguments, e.g. {@code {"-device", "e1000e"}}.
     *
     * @return further QEMU arguments, e.g. {@code {"-device", "e1000e"}}
     */
    String[] qemuArgs() default {};

    /**
     * Returns further options of the guest's JVM, e.g. {@code "-Dmy.flag=1"}.
     *
     * @return further options of the guest's JVM, e.g. {@code "-Dmy.flag=1"}
     */
    String[] jvmArgs() default {};

    /**
     * Returns the guest run's limit in minutes (boot, tests, power-off).
     *
     * @return the guest run's limit in minutes (boot, tests, power-off)
     */
    int timeoutMinutes() default 20;
}
