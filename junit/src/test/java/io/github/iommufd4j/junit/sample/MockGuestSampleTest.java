package io.github.iommufd4j.junit.sample;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.junit.GuestTest;
import io.github.iommufd4j.junit.Profile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A user's test as a VMM project would write it: it runs in a Linux 7.3 guest (mock profile)
 * against the kernel's iommufd and its mock driver, and its tests are reported here by name.
 */
@GuestTest(kernel = "7.3", profile = Profile.MOCK, memory = "2G", cpus = 2)
class MockGuestSampleTest {
    static final long PAGE = 4096, IOVA = MockDriver.APERTURE_START; // the mock domain maps only in its aperture
    final Arena arena = Arena.ofShared();
    Iommufd fd;

    @BeforeEach
    void open() throws IommufdException {
        fd = Iommufd.open(Backend.NATIVE); // the kernel's, never the software backend
    }

    @AfterEach
    void close() {
        fd.close();
        arena.close();
    }

    @Test
    void aMapIsSeenInTheMockDevicesPageTable() throws Exception {
        Ioas ioas = fd.allocIoas();
        MemorySegment buffer = arena.allocate(2 * PAGE, PAGE);
        MockDevice device = fd.mock().addDevice(ioas);
        ioas.map(buffer, IOVA, Access.READ_WRITE);
        fd.mock().checkMap(device.hwptId(), IOVA, buffer);
    }

    @Test
    void anOverlappingMapIsEEXIST() throws Exception {
        Ioas ioas = fd.allocIoas();
        ioas.map(arena.allocate(2 * PAGE, PAGE), IOVA, Access.READ_WRITE);
        IommufdException e = assertThrows(IommufdException.class,
                () -> ioas.map(arena.allocate(PAGE, PAGE), IOVA + PAGE, Access.READ));
        assertEquals("EEXIST", e.errnoName(), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 16})
    void aMapOfNPagesIsSeenPageByPage(long pages) throws Exception {
        Ioas ioas = fd.allocIoas();
        MockDevice device = fd.mock().addDevice(ioas);
        MemorySegment buffer = arena.allocate(pages * PAGE, PAGE);
        ioas.map(buffer, IOVA, Access.READ_WRITE);
        for (long i = 0; i < pages; i++) {
            fd.mock().checkMap(device.hwptId(), IOVA + i * PAGE, buffer.asSlice(i * PAGE, PAGE));
        }
    }

    @Test
    void theGuestHasTheKernelsIommufd() {
        assertTrue(Iommufd.availability().available(), Iommufd.availability().reason());
        assertEquals(Backend.NATIVE, fd.backend());
    }
}
