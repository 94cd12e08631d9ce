package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;

import java.lang.foreign.Arena;
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
    /** PASIDs (not 0) attached through this handle: detached before the device is destroyed. */
    private final java.util.Set<Integer> pasids = java.util.concurrent.ConcurrentHashMap.newKeySet();

    MockDevice(Iommufd iommufd, int stdevId, int deviceId, int hwptId) {
        super(iommufd);
        this.stdevId = stdevId;
        this.deviceId = deviceId;
        this.hwptId = hwptId;
    }

    /**
     * The selftest object id (what DESTROY and MOCK_DOMAIN_REPLACE take).
     *
     * @return the stdev id
     */
    public int stdevId() {
        return stdevId;
    }

    /**
     * The bound device's id: {@code dev_id} of HWPT_ALLOC, GET_HW_INFO, vIOMMU calls and fault
     * records.
     *
     * @return the device id
     */
    public int deviceId() {
        return deviceId;
    }

    /**
     * The page table the device's RID is attached to.
     *
     * @return its id (an auto domain's when attached to an IOAS); 0 after {@code detachPasid(0)}
     */
    public int hwptId() {
        return hwptId;
    }

    /**
     * The PASIDs other than 0 attached through this handle (detached before the device is destroyed).
     *
     * @return an ascending snapshot
     */
    public java.util.SortedSet<Integer> attachedPasids() {
        return java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(pasids));
    }

    /**
     * MOCK_DOMAIN_REPLACE: attaches the device to another IOAS or page table, as a VMM moving a
     * device to a new address space would (VFIO's ATTACH on an attached device).
     *
     * @param ptId the id of an IOAS or page table
     * @return the id of the page table now used (an auto domain's for an IOAS)
     * @throws IommufdException ENOENT for an unknown id (or a vIOMMU's nested table without a vDEVICE
     *         for this device), EINVAL for an object of the wrong type or an incompatible table
     */
    public int replace(int ptId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE(), stdevId);
            s.set(JAVA_INT, U, ptId);
            MockDriver.run(k, "MOCK_DOMAIN_REPLACE", x -> "stdev=" + iommu_test_cmd.id(x) + ", pt=" + x.get(JAVA_INT, U));
            hwptId = s.get(JAVA_INT, U);
            return hwptId;
        }
    }

    /**
     * PASID_ATTACH (Linux 7.x): attaches {@code pasid} of the device to a page table. The page
     * table, and the one at the RID, must be PASID-compatible ({@link HwptFlag#PASID}), so an IOAS
     * (auto domains never are) fails with EINVAL, as does a PASID beyond the device's range (a mock
     * device made without {@link MockDriver#DEVICE_PASID} has only PASID 0). PASID 0 is the RID,
     * always attached unless detached with {@code detachPasid(0)}.
     *
     * @param pasid the PASID
     * @param ptId  the page table's id
     * @return the id of the page table attached
     * @throws IommufdException EBUSY when the PASID is attached (use {@link #replacePasid}), EINVAL as
     *         above
     */
    public int attachPasid(int pasid, int ptId) throws IommufdException {
        int hwpt = pasidCommand(IOMMU_TEST_OP_PASID_ATTACH(), "PASID_ATTACH", pasid, ptId);
        if (pasid == 0) hwptId = hwpt;
        else pasids.add(pasid);
        return hwpt;
    }

    /**
     * PASID_REPLACE (Linux 7.x): moves an attached {@code pasid} to another page table. The mock
     * driver fails the first change of PASID 1024 after each successful attach or change of it with
     * ENOMEM, leaving the old page table attached.
     *
     * @param pasid the PASID
     * @param ptId  the new page table's id
     * @return the id of the page table attached
     * @throws IommufdException EINVAL if the PASID is not attached or the table is not compatible,
     *         ENOMEM as above
     */
    public int replacePasid(int pasid, int ptId) throws IommufdException {
        int hwpt = pasidCommand(IOMMU_TEST_OP_PASID_REPLACE(), "PASID_REPLACE", pasid, ptId);
        if (pasid == 0) hwptId = hwpt;
        return hwpt;
    }

    /**
     * PASID_DETACH (Linux 7.x): detaches {@code pasid}; nothing attached there is not an error.
     *
     * @param pasid the PASID (0: the RID)
     * @throws IommufdException ENOENT once the device is gone
     */
    public void detachPasid(int pasid) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            detachPasid(k, pasid);
        }
    }

    private void detachPasid(KernelCall k, int pasid) throws IommufdException {
        MockDriver.cmd(k, IOMMU_TEST_OP_PASID_DETACH(), stdevId).set(JAVA_INT, U, pasid);
        MockDriver.run(k, "PASID_DETACH", x -> "stdev=" + iommu_test_cmd.id(x) + ", pasid=" + x.get(JAVA_INT, U));
        if (pasid == 0) hwptId = 0;
        else pasids.remove(pasid);
    }

    /**
     * PASID_CHECK_HWPT (Linux 7.x): checks {@code pasid} is attached to page table {@code hwptId}.
     *
     * @param pasid  the PASID
     * @param hwptId the expected page table, or 0 to check that nothing is attached
     * @throws IommufdException EINVAL on a mismatch, ENOENT for an unknown table
     */
    public void checkPasidHwpt(int pasid, int hwptId) throws IommufdException {
        pasidCommand(IOMMU_TEST_OP_PASID_CHECK_HWPT(), "PASID_CHECK_HWPT", pasid, hwptId);
    }

    /** One PASID op on {@code {pasid, pt_id or hwpt_id}}: returns the id field as written back. */
    private int pasidCommand(int op, String name, int pasid, int id) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, op, stdevId);
            s.set(JAVA_INT, U, pasid);
            s.set(JAVA_INT, U + 4, id);
            String idName = op == IOMMU_TEST_OP_PASID_CHECK_HWPT() ? ", hwpt=" : ", pt=";
            MockDriver.run(k, name, x -> "stdev=" + iommu_test_cmd.id(x) + ", pasid=" + x.get(JAVA_INT, U) + idName + x.get(JAVA_INT, U + 4));
            return s.get(JAVA_INT, U + 4);
        }
    }

    /**
     * TRIGGER_IOPF: the device reports an I/O page fault, a one-record group with LAST_PAGE, to the
     * fault queue of the page table it is attached to ({@link MockDriver#addFaultingDevice}). The
     * kernel succeeds even when no fault queue receives it (the fault is dropped).
     *
     * @param pasid   the PASID (0: none; otherwise PASID_VALID is set in the record)
     * @param groupId the page request group id
     * @param perm    the access, e.g. {@link PageFaults#PERM_READ} | {@link PageFaults#PERM_WRITE}
     * @param address the faulting IOVA
     * @throws IommufdException ENOENT once the device is gone
     */
    public void triggerPageFault(int pasid, int groupId, int perm, long address) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, IOMMU_TEST_OP_TRIGGER_IOPF(), 0);
            s.set(JAVA_INT, U, deviceId);
            s.set(JAVA_INT, U + 4, pasid);
            s.set(JAVA_INT, U + 8, groupId);
            s.set(JAVA_INT, U + 12, perm);
            s.set(JAVA_LONG, U + 16, address);
            MockDriver.run(k, "TRIGGER_IOPF", MockDevice::triggerArgs); // benchmarks trigger millions: no capture
        }
    }

    private static String triggerArgs(MemorySegment x) {
        return "dev=" + x.get(JAVA_INT, U) + ", pasid=" + x.get(JAVA_INT, U + 4) + ", grpid=" + x.get(JAVA_INT, U + 8);
    }

    /**
     * TRIGGER_VEVENT (Linux 7.x): the device reports a virtual event carrying the {@code virt_id} of
     * its vDEVICE to the {@link MockDriver#VEVENTQ_TYPE_SELFTEST} event queue of the vIOMMU its
     * nested page table belongs to. A full queue is not an error: the kernel records the loss.
     *
     * @throws IommufdException ENOENT when the device is not attached through a vIOMMU (or has no
     *         vDEVICE), EOPNOTSUPP when the vIOMMU has no SELFTEST event queue
     */
    public void triggerVirtualEvent() throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MockDriver.cmd(k, IOMMU_TEST_OP_TRIGGER_VEVENT(), 0).set(JAVA_INT, U, deviceId);
            MockDriver.run(k, "TRIGGER_VEVENT", MockDevice::veventArgs);
        }
    }

    private static String veventArgs(MemorySegment x) {
        return "dev=" + x.get(JAVA_INT, U);
    }

    /**
     * DEV_CHECK_CACHE (Linux 7.x): checks that slot {@code slot} of the device's cache (what vIOMMU
     * invalidations clear) holds {@code value}.
     *
     * @param slot  0 to 3
     * @param value the expected value
     * @throws IommufdException EINVAL on a mismatch or a slot above 3
     */
    public void checkCache(int slot, int value) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_TEST_CMD")) {
            MemorySegment s = MockDriver.cmd(k, IOMMU_TEST_OP_DEV_CHECK_CACHE(), deviceId);
            s.set(JAVA_INT, U, slot);
            s.set(JAVA_INT, U + 4, value);
            MockDriver.run(k, "DEV_CHECK_CACHE", x -> "dev=" + iommu_test_cmd.id(x) + ", slot=" + x.get(JAVA_INT, U)
                    + ", value=0x" + Integer.toHexString(x.get(JAVA_INT, U + 4)));
        }
    }

    /** The kernel cannot free a device with PASIDs still attached (it warns and leaks): they go first. */
    @Override
    void release() throws IommufdException {
        IommufdException first = null;
        try (KernelCall k = KernelCall.begin(iommufd, "IOMMU_TEST_CMD")) {
            for (int pasid : pasids) {
                try {
                    detachPasid(k, pasid);
                } catch (IommufdException e) {
                    if (first == null) first = e;
                }
            }
        }
        iommufd.destroy(stdevId);
        if (first != null) throw first;
    }

    /** The iommufd is closing (the kernel will free the device with it): its PASIDs are detached first, as in {@link #release}. */
    @Override
    void closeFds() {
        if (pasids.isEmpty()) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(iommu_test_cmd.layout());
            for (int pasid : pasids) {
                s.fill((byte) 0);
                iommu_test_cmd.size(s, (int) iommu_test_cmd.sizeof());
                iommu_test_cmd.op(s, IOMMU_TEST_OP_PASID_DETACH());
                iommu_test_cmd.id(s, stdevId);
                s.set(JAVA_INT, U, pasid);
                iommufd.raw().ioctl(Command.TEST_CMD.request(), s);
            }
        }
        pasids.clear();
    }

    @Override
    String describe() {
        return "stdev=" + stdevId + ", dev=" + deviceId + ", hwpt=" + hwptId;
    }

    /**
     * Names the device by its ids.
     *
     * @return e.g. {@code MockDevice[stdev=3, dev=4, hwpt=5]}
     */
    @Override
    public String toString() {
        return "MockDevice[" + describe() + "]";
    }
}
