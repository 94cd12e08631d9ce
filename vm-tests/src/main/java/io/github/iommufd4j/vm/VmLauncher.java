package io.github.iommufd4j.vm;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Boots a guest with a real iommufd and runs one command in it. Implemented by the direct QEMU
 * launcher ({@link QemuLauncher}); a container launcher can implement it too.
 */
public interface VmLauncher {

    /** Machine profiles (see vm-tests/guest/run-vm.sh). */
    enum Profile {
        /** No vIOMMU: the iommufd mock driver and every fault-object test. */
        MOCK,
        /** Intel vIOMMU (intremap, caching mode) and the edu DMA device bound to vfio-pci. */
        INTEL,
        /** The same in scalable mode. */
        INTEL_SM,
        /** virtio-iommu and the edu device. */
        VIRTIO,
        /** arm64: QEMU's SMMUv3 in nested mode and the edu device ({@link Arm64Launcher}). */
        SMMUV3;

        String scriptName() {
            return name().toLowerCase().replace('_', '-');
        }
    }

    /**
     * What to run: a guest kernel, a profile, a script (an absolute host path, visible at the
     * same path in the guest, whose root is the host's / shared read-only), its environment and
     * a results directory shared writable with the guest.
     */
    record Spec(Path kernel, Profile profile, Path script, Map<String, String> env, Path results, Duration timeout) {}

    /** The guest command's exit code (124 timeout, 125 no report), its console and wall time. */
    record Result(int exitCode, Path console, Duration wallTime) {
        public boolean passed() {
            return exitCode == 0;
        }
    }

    /** Whether this launcher can run here; a reason when not (used to skip tests). */
    String unavailableReason();

    Result run(Spec spec) throws IOException, InterruptedException;
}
