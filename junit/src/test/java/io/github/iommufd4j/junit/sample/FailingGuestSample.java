package io.github.iommufd4j.junit.sample;

import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.junit.GuestTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A guest test that fails on purpose, to see a guest failure in the report (its name, the
 * assertion and the guest console's tail): not run by default, only by
 * {@code mvn -pl junit verify -Dtest=FailingGuestSample}.
 */
@GuestTest
class FailingGuestSample {
    @Test
    void passesInTheGuest() {
        assertEquals(true, Iommufd.availability().available());
    }

    @Test
    void failsInTheGuest() {
        assertEquals("6.12", System.getProperty("os.version").replaceAll("^(\\d+\\.\\d+).*", "$1"), "the guest kernel");
    }
}
