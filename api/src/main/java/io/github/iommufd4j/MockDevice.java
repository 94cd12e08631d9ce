package io.github.iommufd4j;

import java.lang.foreign.MemorySegment;

import static io.github.iommufd4j.MockDriver.U;
import static io.github.iommufd4j.bindings.uapi.Uapi.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A mock driver device (IOMMU_TEST_OP_MOCK_DOMAIN): a selftest object ("stdev"), the bound
 * device ({@link #deviceId()}, the id other commands take as {@code dev_id}) and the page table
 * it is attached to. Closing it destroys the stdev, which detaches and unbinds the device.
 */
public final class MockDevice extends Handle {
    private final int stdevId;
    private final int deviceId;
    private volatile int hwptId;

    MockDevice(Iommufd iommufd, int stdevId, int deviceId, int hwptId) {
        super(iommufd);
        this.stdevId = stdevId;
        this.deviceId = deviceId;
        this.hwptId = hwptId;
    }

    /** The selftest object id (what DESTROY and REPLACE take). */
    public int stdevId() {
        return stdevId;
    }

    /** The bound device's id ({@code dev_id} of HWPT_ALLOC, GET_HW_INFO, fault records). */
    public int deviceId() {
        return deviceId;
    }

    /** The page table the device is attached to (an auto domain when attached to an IOAS). */
    public int hwptId() {
        return hwptId;
    }

    /** MOCK_DOMAIN_REPLACE: attaches the device to another IOAS or page table; returns the HWPT id used. */
    public int replace(int ptId) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE(), stdevId);
            s.set(JAVA_INT, U, ptId);
            iommufd.mock().run(s, "MOCK_DOMAIN_REPLACE", "stdev=" + stdevId + ", pt=" + ptId);
            hwptId = s.get(JAVA_INT, U);
            return hwptId;
        } finally {
            exit();
        }
    }

    /**
     * TRIGGER_IOPF: the device reports an I/O page fault (a one-record group, LAST_PAGE). The
     * kernel succeeds even when no fault queue receives it.
     */
    public void triggerPageFault(int pasid, int groupId, int perm, long address) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_TRIGGER_IOPF(), 0);
            s.set(JAVA_INT, U, deviceId);
            s.set(JAVA_INT, U + 4, pasid);
            s.set(JAVA_INT, U + 8, groupId);
            s.set(JAVA_INT, U + 12, perm);
            s.set(JAVA_LONG, U + 16, address);
            // Benchmarks trigger millions of faults: the message is only built on failure.
            int rc = iommufd.raw().ioctl(Command.TEST_CMD.request(), s);
            if (rc < 0) {
                throw Iommufd.failure(Command.TEST_CMD, "TRIGGER_IOPF: dev=" + deviceId + ", pasid=" + pasid + ", grpid=" + groupId, rc);
            }
        } finally {
            exit();
        }
    }

    /**
     * TRIGGER_VEVENT (Linux 7.x): the device reports a virtual event ({@code virt_id} of its
     * vDEVICE) to the SELFTEST event queue of the vIOMMU its nested page table belongs to.
     */
    public void triggerVirtualEvent() throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_TRIGGER_VEVENT(), 0);
            s.set(JAVA_INT, U, deviceId);
            int rc = iommufd.raw().ioctl(Command.TEST_CMD.request(), s);
            if (rc < 0) throw Iommufd.failure(Command.TEST_CMD, "TRIGGER_VEVENT: dev=" + deviceId, rc);
        } finally {
            exit();
        }
    }

    /** DEV_CHECK_CACHE (Linux 7.x): checks slot {@code slot} of the device's cache holds {@code value}. */
    public void checkCache(int slot, int value) throws IommufdException {
        enter("IOMMU_TEST_CMD");
        try {
            MemorySegment s = MockDriver.cmd(IOMMU_TEST_OP_DEV_CHECK_CACHE(), deviceId);
            s.set(JAVA_INT, U, slot);
            s.set(JAVA_INT, U + 4, value);
            iommufd.mock().run(s, "DEV_CHECK_CACHE", "dev=" + deviceId + ", slot=" + slot + ", value=0x" + Integer.toHexString(value));
        } finally {
            exit();
        }
    }

    @Override
    void release() throws IommufdException {
        iommufd.destroy(stdevId);
    }

    @Override
    String describe() {
        return "stdev=" + stdevId + ", dev=" + deviceId + ", hwpt=" + hwptId;
    }

    @Override
    public String toString() {
        return "MockDevice[" + describe() + "]";
    }
}
