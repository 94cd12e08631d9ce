package io.github.iommufd4j;

import io.github.iommufd4j.bindings.uapi.*;

import java.lang.foreign.MemorySegment;

/**
 * A virtual IOMMU (IOMMU_VIOMMU_ALLOC, Linux 6.13+): the per-VM slice of a physical IOMMU
 * behind the IOMMU a VMM exposes to its guest (e.g. an emulated SMMUv3 or VT-d with nested
 * translation). It owns the guest's device ids ({@link Vdevice}), the nested page tables
 * allocated through it, its event queues ({@link EventQueue}) and HW queues ({@link HwQueue}),
 * which close before it; it holds its nesting parent, which closes after it.
 *
 * {@snippet class=io.github.iommufd4j.snippets.Snippets region=viommu}
 *
 * Made by {@link Iommufd#allocViommu(int, HwPagetable, int, MemorySegment)}.
 */
public final class Viommu extends Handle {
    private final int id;
    private final int type;

    Viommu(Iommufd iommufd, int id, int type) {
        super(iommufd);
        this.id = id;
        this.type = type;
    }

    /**
     * The kernel's object id (what {@code pt_id} of attaches and HWPT_INVALIDATE take).
     *
     * @return the vIOMMU id
     */
    public int id() {
        return id;
    }

    /**
     * The driver's vIOMMU type it was allocated with.
     *
     * @return e.g. {@code IOMMU_VIOMMU_TYPE_ARM_SMMUV3} or {@link MockDriver#VIOMMU_TYPE_SELFTEST}
     */
    public int type() {
        return type;
    }

    /**
     * IOMMU_VDEVICE_ALLOC: tells the vIOMMU that the device is known to the guest by
     * {@code virtId}. Needed before the device can attach to a nested page table of this vIOMMU
     * (ENOENT otherwise), before invalidations name it and before it reports virtual events.
     *
     * @param deviceId the bound device
     * @param virtId   the device's id in the guest (e.g. its virtual stream id or RID)
     * @return the virtual device, closed before this vIOMMU
     * @throws IommufdException EEXIST when the device already has one, ENOENT for an unknown device
     */
    public Vdevice allocVdevice(int deviceId, long virtId) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "IOMMU_VDEVICE_ALLOC").hold(this).holdDevice(deviceId)) {
            MemorySegment s = k.struct(iommu_vdevice_alloc.sizeof());
            iommu_vdevice_alloc.viommu_id(s, id);
            iommu_vdevice_alloc.dev_id(s, deviceId);
            iommu_vdevice_alloc.virt_id(s, virtId);
            k.ioctl(Command.VDEVICE_ALLOC, x -> "viommu=" + iommu_vdevice_alloc.viommu_id(x) + ", dev=" + iommu_vdevice_alloc.dev_id(x)
                    + ", virt_id=0x" + Long.toHexString(iommu_vdevice_alloc.virt_id(x)));
            Vdevice v = new Vdevice(iommufd, iommu_vdevice_alloc.out_vdevice_id(s), deviceId, virtId);
            addDependent(v);
            return iommufd.track(v);
        }
    }

    /**
     * IOMMU_HWPT_ALLOC through this vIOMMU: a nested (stage-1) page table over its nesting parent,
     * described by driver data (e.g. the guest's stream table entry, or the mock's
     * {@link MockDriver#selftestData}).
     *
     * @param deviceId the bound device
     * @param dataType the driver data type, e.g. {@code IOMMU_HWPT_DATA_ARM_SMMUV3} or
     *                 {@link MockDriver#HWPT_DATA_SELFTEST}
     * @param data     driver data the kernel reads (native memory), or {@link MemorySegment#NULL}
     * @param fault    a fault queue receiving the device's I/O page faults, or null
     * @param flags    allocation flags
     * @return the nested page table, closed before this vIOMMU
     * @throws IommufdException EINVAL for bad driver data, EOPNOTSUPP for a data type or flag the
     *         driver does not take
     */
    public HwPagetable allocNestedHwpt(int deviceId, int dataType, MemorySegment data, FaultQueue fault, HwptFlag... flags)
            throws IommufdException {
        return iommufd.allocHwpt(deviceId, this, id, fault, dataType, data, flags);
    }

    /**
     * IOMMU_HWPT_ALLOC through this SMMUv3 vIOMMU: a nested page table for the guest's stream
     * table entry (e.g. {@link Smmuv3Ste#translate(long)}); no fault queue, no flags.
     *
     * @param deviceId the bound device
     * @param ste      the guest's STE words 0 and 1
     * @return the nested page table, closed before this vIOMMU
     * @throws IommufdException EIO for an STE field the kernel does not take, EOPNOTSUPP when the
     *         vIOMMU is not SMMUv3
     * @throws IllegalArgumentException for a null STE
     */
    public HwPagetable allocNestedHwpt(int deviceId, Smmuv3Ste ste) throws IommufdException {
        if (ste == null) throw new IllegalArgumentException("IOMMU_HWPT_ALLOC: the SMMUv3 STE is null");
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            return allocNestedHwpt(deviceId, Smmuv3Ste.DATA_TYPE, ste.toSegment(arena), null);
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE of this SMMUv3 vIOMMU's caches with the guest's commands, in order.
     *
     * @param commands the commands (e.g. {@link Smmuv3Command#tlbiNhVa})
     * @return how many commands the kernel handled (all, when it returns)
     * @throws IommufdException EIO for a command the kernel does not take or an unknown virtual
     *         stream id (the exception's arguments carry {@code handled=})
     * @throws IllegalArgumentException for a null or empty list, or a null command
     */
    public int invalidate(java.util.List<Smmuv3Command> commands) throws IommufdException {
        if (commands == null || commands.isEmpty()) throw new IllegalArgumentException("IOMMU_HWPT_INVALIDATE: no SMMUv3 commands");
        for (int i = 0; i < commands.size(); i++) {
            if (commands.get(i) == null) throw new IllegalArgumentException("IOMMU_HWPT_INVALIDATE: SMMUv3 command " + i + " is null");
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            return invalidate(Smmuv3Command.DATA_TYPE, Smmuv3Command.toSegment(arena, commands), Smmuv3Command.BYTES, commands.size());
        }
    }

    /**
     * IOMMU_HWPT_INVALIDATE of this vIOMMU's caches (e.g. the guest's SMMUv3 CMDQ TLBI and ATC
     * commands) with an array of driver entries (e.g.
     * {@code struct iommu_viommu_arm_smmuv3_invalidate}). The kernel handles the entries in order
     * and stops at the first failure.
     *
     * @param dataType the driver's invalidation data type, e.g. {@link MockDriver#VIOMMU_INVALIDATE_DATA_SELFTEST}
     * @param entries  native memory holding {@code entryLen * entryNum} bytes
     * @param entryLen bytes per entry (the driver's struct size)
     * @param entryNum number of entries
     * @return how many entries the kernel handled
     * @throws IommufdException EINVAL for a wrong data type or entry length or an unknown virtual
     *         device, EOPNOTSUPP for unknown entry flags; the exception's arguments carry
     *         {@code handled=}
     * @throws IllegalArgumentException for a negative length or count, or entries that are not native
     *         or too small
     */
    public int invalidate(int dataType, MemorySegment entries, int entryLen, int entryNum) throws IommufdException {
        try (KernelCall k = KernelCall.begin(this, "IOMMU_HWPT_INVALIDATE")) {
            return Iommufd.invalidate(k, "viommu", id, dataType, entries, entryLen, entryNum);
        }
    }

    /**
     * IOMMU_VEVENTQ_ALLOC (Linux 6.15+): a queue of virtual events of one type (e.g. the guest's
     * stage-1 faults on SMMUv3) and its file descriptor. The payload size comes from the type (see
     * {@link EventQueue#payloadSize(int)}).
     *
     * @param type  the vEVENTQ type, e.g. {@code IOMMU_VEVENTQ_TYPE_ARM_SMMUV3} or
     *              {@link MockDriver#VEVENTQ_TYPE_SELFTEST}
     * @param depth the most events held before the kernel reports loss (1 to 2^19)
     * @return the event queue, owning its fd, closed before this vIOMMU
     * @throws IommufdException EEXIST when this vIOMMU has a queue of that type, EINVAL for a bad
     *         depth, EOPNOTSUPP for type 0
     * @throws IllegalArgumentException for a type this library does not know (use
     *         {@link #allocEventQueue(int, int, int)})
     */
    public EventQueue allocEventQueue(int type, int depth) throws IommufdException {
        return allocEventQueue(type, depth, EventQueue.payloadSize(type));
    }

    /**
     * IOMMU_VEVENTQ_ALLOC for a type this library does not know: the caller gives its payload size.
     *
     * @param type        the vEVENTQ type
     * @param depth       the most events held before the kernel reports loss (1 to 2^19)
     * @param payloadSize bytes of payload per event (the type's struct size)
     * @return the event queue, owning its fd, closed before this vIOMMU
     * @throws IommufdException EEXIST when this vIOMMU has a queue of that type, EINVAL for a bad depth
     * @throws IllegalArgumentException when {@code payloadSize} is not positive
     */
    public EventQueue allocEventQueue(int type, int depth, int payloadSize) throws IommufdException {
        if (payloadSize <= 0) throw new IllegalArgumentException("unknown vEVENT type 0x" + Integer.toHexString(type) + ": give its payload size");
        try (KernelCall k = KernelCall.begin(iommufd, "IOMMU_VEVENTQ_ALLOC").hold(this)) {
            int wake = RecordQueue.newWakeFd(k.op());
            MemorySegment s = k.struct(iommu_veventq_alloc.sizeof());
            iommu_veventq_alloc.viommu_id(s, id);
            iommu_veventq_alloc.type(s, type);
            iommu_veventq_alloc.veventq_depth(s, depth);
            try {
                k.ioctl(Command.VEVENTQ_ALLOC, x -> "viommu=" + iommu_veventq_alloc.viommu_id(x) + ", type=0x"
                        + Integer.toHexString(iommu_veventq_alloc.type(x)) + ", depth=" + iommu_veventq_alloc.veventq_depth(x));
            } catch (IommufdException e) {
                io.github.iommufd4j.bindings.Libc.close(wake);
                throw e;
            }
            EventQueue q = new EventQueue(iommufd, iommu_veventq_alloc.out_veventq_id(s),
                    iommu_veventq_alloc.out_veventq_fd(s), wake, type, payloadSize);
            addDependent(q);
            return iommufd.track(q);
        }
    }

    /**
     * IOMMU_HW_QUEUE_ALLOC (Linux 6.17+): hands a guest queue the hardware reads directly (e.g. a
     * tegra241 CMDQV command queue) to the vIOMMU. {@code [iova, iova+length)} is an IOVA range of
     * the nesting parent's IOAS; the kernel pins it (it must be physically contiguous), so it
     * cannot be unmapped while the queue exists (EBUSY).
     *
     * @param type   the driver's HW queue type, e.g. {@link MockDriver#HW_QUEUE_TYPE_SELFTEST}
     * @param index  the queue's index in the vIOMMU
     * @param iova   the queue's base IOVA in the nesting parent's IOAS
     * @param length the queue's size in bytes
     * @return the HW queue, closed before this vIOMMU
     * @throws IommufdException ENOENT for an unmapped range, EEXIST for an index in use, EIO when the
     *         driver needs the lower index first, EOVERFLOW for a range that wraps, EOPNOTSUPP for
     *         type 0
     */
    public HwQueue allocHwQueue(int type, int index, long iova, long length) throws IommufdException {
        try (KernelCall k = KernelCall.begin(iommufd, "IOMMU_HW_QUEUE_ALLOC").hold(this)) {
            MemorySegment s = k.struct(iommu_hw_queue_alloc.sizeof());
            iommu_hw_queue_alloc.viommu_id(s, id);
            iommu_hw_queue_alloc.type(s, type);
            iommu_hw_queue_alloc.index(s, index);
            iommu_hw_queue_alloc.nesting_parent_iova(s, iova);
            iommu_hw_queue_alloc.length(s, length);
            k.ioctl(Command.HW_QUEUE_ALLOC, x -> "viommu=" + iommu_hw_queue_alloc.viommu_id(x) + ", type=0x"
                    + Integer.toHexString(iommu_hw_queue_alloc.type(x)) + ", index=" + iommu_hw_queue_alloc.index(x)
                    + ", iova=" + Ioas.hex(iommu_hw_queue_alloc.nesting_parent_iova(x)) + ", length=" + Ioas.hex(iommu_hw_queue_alloc.length(x)));
            HwQueue q = new HwQueue(iommufd, iommu_hw_queue_alloc.out_hw_queue_id(s), index);
            addDependent(q);
            return iommufd.track(q);
        }
    }

    /**
     * mmap of a region the driver exposes for this vIOMMU (e.g. a tegra241 CMDQV VINTF page, or the
     * mock's region), at the offset and length its allocation data reported. The mapping lives
     * until {@code arena} closes and holds the vIOMMU meanwhile: destroying it gives EBUSY.
     *
     * @param arena  the arena that owns the mapping (unmapped when it closes)
     * @param offset the region's mmap offset, as the driver reported it
     * @param length the region's length in bytes, as the driver reported it
     * @return the mapped region, valid while {@code arena} is alive
     * @throws IommufdException ENXIO for an offset or length the driver did not report
     * @throws IllegalArgumentException for a length that is not positive
     * @throws IllegalStateException if {@code arena} is closed
     */
    public MemorySegment mapRegion(java.lang.foreign.Arena arena, long offset, long length) throws IommufdException {
        java.util.Objects.requireNonNull(arena, "arena");
        if (length <= 0) throw new IllegalArgumentException("mmap(iommufd): length " + length);
        if (!arena.scope().isAlive()) throw new IllegalStateException("mmap(iommufd): the arena is closed");
        try (KernelCall k = KernelCall.begin(this, "mmap(iommufd)")) {
            var backend = k.backend();
            long address = backend.mmap(offset, length);
            if (address < 0) {
                throw k.failed(describe() + ", offset=" + Ioas.hex(offset) + ", length=" + Ioas.hex(length), (int) -address);
            }
            return MemorySegment.ofAddress(address).reinterpret(length, arena, seg -> backend.munmap(seg.address(), length));
        }
    }

    @Override
    void release() throws IommufdException {
        iommufd.destroy(id);
    }

    @Override
    String describe() {
        return "viommu=" + id;
    }

    /**
     * Names the vIOMMU by id and type.
     *
     * @return e.g. {@code Viommu[7, type=0xdeadbeef]}
     */
    @Override
    public String toString() {
        return "Viommu[" + id + ", type=0x" + Integer.toHexString(type) + "]";
    }
}
