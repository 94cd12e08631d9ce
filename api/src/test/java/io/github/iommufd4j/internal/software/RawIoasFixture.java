package io.github.iommufd4j.internal.software;

import org.junit.jupiter.api.AfterEach;

/** A fresh software iommufd driven through raw structs, with one IOAS; closed after each test. */
abstract class RawIoasFixture {
    final Raw raw = new Raw();
    final int ioas = raw.ioas();

    @AfterEach
    void closeRaw() {
        raw.close();
    }
}
