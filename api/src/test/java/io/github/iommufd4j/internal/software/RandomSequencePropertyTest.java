package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.reliability.DiffFuzzer;
import io.github.iommufd4j.reliability.Leaks;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Random typed-API sequences of the differential fuzzer ({@link DiffFuzzer}) on the software
 * backend alone: every result is a value or an errno (an Error would fail the property), the
 * same sequence gives the same results on a second iommufd (each 6.12 and 7.3), and closing the
 * iommufd leaves no file descriptor behind.
 */
class RandomSequencePropertyTest {

    @Property(tries = 60)
    void sequencesAreDeterministicAndLeaveNoFd(@ForAll long seed) {
        long fds = Leaks.openFds();
        List<DiffFuzzer.Op> ops = DiffFuzzer.generate(new Random(seed), 120);
        for (String kernel : new String[] {"6.12", "7.3"}) {
            System.setProperty(SoftwareBackend.KERNEL_PROPERTY, kernel);
            DiffFuzzer f = new DiffFuzzer(() -> open(), () -> open());
            try {
                assertNull(f.compare(ops), "seed " + seed + " on " + kernel);
            } finally {
                f.close();
                System.clearProperty(SoftwareBackend.KERNEL_PROPERTY);
            }
        }
        assertEquals(fds, Leaks.openFds(), "file descriptors after seed " + seed);
    }

    private static Iommufd open() {
        try {
            return Iommufd.open(Backend.SOFTWARE);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
