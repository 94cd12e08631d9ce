package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Leak checks shared by the reliability tests: file descriptors and iommufd objects. */
public final class Leaks {
    private Leaks() {}

    /** Open file descriptors of this process. */
    public static long openFds() {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Asserts that the iommufd holds no object: DESTROY of every id up to {@code maxId} is ENOENT
     * (an object still there would be destroyed or give EBUSY), and a new IOAS gets id 1, so no
     * hidden id (an access, a reserved id) is left either, since the kernel hands out the lowest free id.
     */
    public static void assertNoObjects(Iommufd fd, int maxId) throws IommufdException {
        List<String> left = new ArrayList<>();
        for (int id = 1; id <= maxId; id++) {
            try {
                fd.destroy(id);
                left.add(id + " (destroyed now)");
            } catch (IommufdException e) {
                if (!e.errnoName().equals("ENOENT")) left.add(id + " (" + e.errnoName() + ")");
            }
        }
        if (!left.isEmpty()) fail("objects left behind: " + left);
        try (Ioas ioas = fd.allocIoas()) {
            assertEquals(1, ioas.id(), "lowest free id: no hidden object holds id 1");
        }
    }

    /** Closes handles newest first; every close must succeed. */
    public static void closeAll(List<? extends AutoCloseable> handles) throws Exception {
        for (AutoCloseable h : handles.reversed()) h.close();
    }
}
