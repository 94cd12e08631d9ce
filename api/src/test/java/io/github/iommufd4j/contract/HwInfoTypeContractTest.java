package io.github.iommufd4j.contract;

import io.github.iommufd4j.Command;
import io.github.iommufd4j.HwInfo;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.Smmuv3HwInfo;
import io.github.iommufd4j.Tegra241CmdqvInfo;
import io.github.iommufd4j.bindings.uapi.Uapi;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** GET_HW_INFO of a given info type (IOMMU_HW_INFO_FLAG_INPUT_TYPE) on the mock IOMMU. */
class HwInfoTypeContractTest extends ContractTestBase {

    @Test
    void theMockAnswersItsOwnTypeAndRefusesOthers() throws Exception {
        requireMock();
        // The input type came with Linux 6.17, as HW queues did.
        assumeTrue(fd.supports(Command.HW_QUEUE_ALLOC), "kernel without IOMMU_HW_INFO_FLAG_INPUT_TYPE");
        MockDevice dev = mock.addDevice(fd.allocIoas().id(), 0);
        HwInfo own = fd.hwInfo(dev.deviceId(), Uapi.IOMMU_HW_INFO_TYPE_SELFTEST());
        assertEquals(fd.hwInfo(dev.deviceId()).type(), own.type());
        assertEquals(Uapi.IOMMU_HW_INFO_TYPE_SELFTEST(), own.type());
        assertFalse(own.isArmSmmuv3());
        assertThrows(IllegalArgumentException.class, () -> Smmuv3HwInfo.of(own));
        for (int type : new int[] {Smmuv3HwInfo.TYPE, Tegra241CmdqvInfo.TYPE}) {
            IommufdException e = assertThrows(IommufdException.class, () -> fd.hwInfo(dev.deviceId(), type));
            assertEquals("EOPNOTSUPP", e.errnoName());
        }
    }
}
