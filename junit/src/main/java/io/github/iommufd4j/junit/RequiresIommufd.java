package io.github.iommufd4j.junit;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs a test class or method only where the kernel's iommufd can be used (inside a {@link GuestTest}
 * guest, or a host with {@code /dev/iommu}), and, if given, where a VFIO cdev exists; it is
 * skipped elsewhere with the reason ({@code Iommufd.availability()}).
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(IommufdCondition.class)
public @interface RequiresIommufd {
    /**
     * Returns a VFIO cdev the test needs, e.g. {@code /dev/vfio/devices/vfio0}; empty for none.
     *
     * @return a VFIO cdev the test needs, e.g. {@code /dev/vfio/devices/vfio0}; empty for none
     */
    String vfioDevice() default "";
}
