package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;

import java.util.ArrayList;
import java.util.List;

/**
 * The state of one software iommufd (what the kernel keeps per open {@code /dev/iommu}): the
 * object table, the user memory, the fds handed out, and the object life cycle shared by the
 * commands (HWPT creation, attach, replace, detach, destroy). Every method runs under the
 * backend's lock.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class SwIommufd {
    final SoftwareBackend.Kernel kernel;
    final ObjectTable objects = new ObjectTable();
    final UserMemory memory = new UserMemory();
    /** The fds handed out, by number: a {@link SwFault} (its user end), a {@link SwVeventq} or a {@link SwAccess}. */
    private Object[] fds = new Object[64];
    /** The VFIO compatibility IOAS (IOMMU_VFIO_IOAS SET), or null. */
    SwIoas compatIoas;
    /** IOMMU_OPTION RLIMIT_MODE: true for per-process (MM) accounting. */
    boolean accountMm;
    private int nextPages = 1;
    /**
     * 7.3 IOAS_MAP_FILE: the pages objects backed by a file or a mock dma-buf rather than user
     * memory, with the mapping this backend reads them through.
     */
    final java.util.Map<Integer, MappedPages> mappedPages = new java.util.HashMap<>();

    /**
     * A pages object of IOAS_MAP_FILE: the mapping of the file made here ({@code offset} = file
     * offset - VA), and for a dma-buf its attachment (null for a plain file).
     */
    record MappedPages(java.lang.foreign.Arena arena, long offset, SwDmabuf.Attachment dmabuf) {}
    /** Memory of driver regions user space can mmap (7.3 mock vIOMMU), freed with the iommufd. */
    java.lang.foreign.Arena regions = java.lang.foreign.Arena.ofShared();

    SwIommufd(SoftwareBackend.Kernel kernel) {
        this.kernel = kernel;
    }

    SwFault fault(int fd) {
        return fd >= 0 && fd < fds.length && fds[fd] instanceof SwFault f ? f : null;
    }

    SwVeventq veventq(int fd) {
        return fd >= 0 && fd < fds.length && fds[fd] instanceof SwVeventq q ? q : null;
    }

    SwAccess access(int fd) {
        return fd >= 0 && fd < fds.length && fds[fd] instanceof SwAccess a ? a : null;
    }

    void putFd(int fd, Object owner) {
        if (fd >= fds.length) fds = java.util.Arrays.copyOf(fds, Math.max(fds.length * 2, fd + 1));
        fds[fd] = owner;
    }

    void removeFd(int fd) {
        fds[fd] = null;
    }

    List<SwAccess> accesses() {
        List<SwAccess> out = new ArrayList<>();
        for (Object o : fds) if (o instanceof SwAccess a) out.add(a);
        return out;
    }

    boolean v73() {
        return kernel == SoftwareBackend.Kernel.V7_3;
    }

    /** A new pages object (the identity of the user pages one MAP pins, shared by its copies). */
    int newPages() {
        return nextPages++;
    }

    SwIoas ioas(int id) {
        return (SwIoas) objects.get(id, SwObject.Kind.IOAS);
    }

    SwDevice device(int id) {
        return (SwDevice) objects.get(id, SwObject.Kind.DEVICE);
    }

    // ---- HWPTs ----

    /**
     * {@code iommufd_hwpt_paging_alloc}: a paging domain added to its IOAS (aperture reserved,
     * alignment raised, areas pinned). Its ID is reserved, not published.
     */
    SwHwpt createPaging(SwIoas ioas, int flags, boolean auto, boolean hugeType) {
        int id = objects.reserve();
        SwHwpt h = SwHwpt.paging(id, ioas, flags, auto, (flags & 2) != 0, hugeType);
        h.refusesNoAccess = v73();
        try {
            ioas.addDomain(h);
        } catch (Fail f) {
            objects.release(id);
            throw f;
        }
        ioas.users++;
        return h;
    }

    /** Destroys a HWPT nothing uses any more, dropping the references it holds (§2.4). */
    void destroyHwpt(SwHwpt h) {
        if (h.viommu != null) {
            h.viommu.users--;
        } else if (h.nested) {
            h.parent.users--;
        } else {
            h.ioas.removeDomain(h);
            h.ioas.users--;
        }
        if (h.fault != null) h.fault.users--;
        objects.release(h.id);
    }

    // ---- attach / replace / detach (§4.4) ----

    /**
     * {@code iommufd_device_attach} at {@code pasid} (0: IOMMU_NO_PASID, the RID): returns the ID
     * of the HWPT used.
     */
    int attach(SwDevice dev, int pasid, int ptId) {
        SwObject pt = objects.get(ptId);
        Err.when(pt == null, Err.ENOENT);
        int id;
        if (pt instanceof SwIoas ioas) {
            id = autoDomain(dev, pasid, ioas, false);
        } else {
            Err.when(!(pt instanceof SwHwpt), Err.EINVAL);
            doAttach(dev, pasid, (SwHwpt) pt);
            id = pt.id;
        }
        dev.users++; // each attachment holds the device
        return id;
    }

    /** {@code iommufd_device_replace} at {@code pasid}: returns the ID of the HWPT now attached. */
    int replace(SwDevice dev, int pasid, int ptId) {
        SwObject pt = objects.get(ptId);
        Err.when(pt == null, Err.ENOENT);
        if (pt instanceof SwIoas ioas) return autoDomain(dev, pasid, ioas, true);
        Err.when(!(pt instanceof SwHwpt), Err.EINVAL);
        SwHwpt old = doReplace(dev, pasid, (SwHwpt) pt);
        if (old != null) put(old);
        return pt.id;
    }

    /** {@code iommufd_device_detach} at {@code pasid}: nothing attached there is a no-op. */
    void detach(SwDevice dev, int pasid) {
        SwHwpt old = dev.attached(pasid);
        if (old == null) return;
        if (pasid == 0) {
            dev.hwpt = null;
            dev.viommu = null; // the blocking domain's attach drops the vIOMMU
            dev.vdevId = 0;
        } else {
            dev.pasids.remove(pasid);
            if (pasid == PASID_FAKE_ERROR) dev.pasid1024Armed = false; // the blocked domain's set_dev_pasid
        }
        leave(dev, old, pasid);
        put(old);
        dev.users--;
    }

    /** The device goes (its stdev is destroyed): every attachment ends, PASIDs first. */
    void detachAll(SwDevice dev) {
        while (!dev.pasids.isEmpty()) detach(dev, dev.pasids.lastKey());
        detach(dev, 0);
    }

    /**
     * {@code iommufd_device_auto_get_domain}: the first existing auto domain of the IOAS that takes
     * the device (EINVAL means incompatible: try the next), else a new auto domain. An auto domain
     * is never PASID-compatible: at a PASID this always fails.
     */
    private int autoDomain(SwDevice dev, int pasid, SwIoas ioas, boolean replace) {
        for (SwHwpt h : new ArrayList<>(ioas.domains)) {
            if (!h.auto) continue;
            try {
                if (replace) {
                    SwHwpt old = doReplace(dev, pasid, h);
                    if (old != null) put(old);
                } else {
                    doAttach(dev, pasid, h);
                }
                return h.id;
            } catch (Fail f) {
                if (f.errno != Err.EINVAL) throw f;
            }
        }
        if (!replace && pasid != 0) {
            // The new domain is attached before it joins the IOAS ("immediate attach"), and that
            // attach fails: already attached (EBUSY) or not PASID-compatible (EINVAL). Its ID is released.
            Err.when(dev.attached(pasid) != null, Err.EBUSY);
            throw new Fail(Err.EINVAL);
        }
        SwHwpt h = createPaging(ioas, 0, true, false);
        SwHwpt old;
        try {
            if (replace) {
                old = doReplace(dev, pasid, h);
            } else {
                doAttach(dev, pasid, h);
                old = null;
            }
        } catch (Fail f) {
            destroyHwpt(h);
            throw f;
        }
        objects.publish(h);
        if (old != null) put(old);
        return h.id;
    }

    /** The mock's attach op: a NO_DIRTY device cannot use a domain with dirty ops. */
    private static void checkCompatible(SwDevice dev, SwHwpt h) {
        Err.when(h.dirtyOps && (dev.flags & SwDevice.NO_DIRTY) != 0, Err.EINVAL);
    }

    /**
     * 7.3 {@code iommufd_hwpt_pasid_compat}: a HWPT at a PASID must be PASID-compatible, and so
     * must the RID's; a RID HWPT that is not needs every PASID free. (Nothing is ever attached
     * at a PASID on 6.12.)
     */
    private static void checkPasidCompat(SwDevice dev, int pasid, SwHwpt h) {
        if (pasid == 0) {
            Err.when(!h.pasidCompat() && !dev.pasids.isEmpty(), Err.EINVAL);
        } else {
            Err.when(!h.pasidCompat(), Err.EINVAL);
            Err.when(dev.hwpt != null && !dev.hwpt.pasidCompat(), Err.EINVAL);
        }
    }

    /** The mock's {@code set_dev_pasid} for a new (non-blocked) domain: PASID 1024's fake error. */
    private static void setDevPasid(SwDevice dev, int pasid) {
        if (pasid != PASID_FAKE_ERROR) return;
        if (dev.pasid1024Armed) {
            dev.pasid1024Armed = false;
            throw new Fail(Err.ENOMEM);
        }
        dev.pasid1024Armed = true;
    }

    /** {@code IOMMU_TEST_PASID_RESERVED}: the PASID of the mock's fake error. */
    static final int PASID_FAKE_ERROR = 1024;

    /**
     * The 7.3 mock's attach op: a nested HWPT of a vIOMMU needs the device's vDEVICE there
     * (ENOENT), whose virt_id the device keeps for TRIGGER_VEVENT.
     */
    private static void attachViommu(SwDevice dev, SwHwpt h) {
        SwViommu v = h.viommu;
        Err.when(v != null && (dev.vdev == null || dev.vdev.viommu != v), Err.ENOENT);
        dev.viommu = v;
        dev.vdevId = v != null ? dev.vdev.virtId : 0;
    }

    /**
     * {@code iommufd_hw_pagetable_attach}: an attached PASID (or RID) is EBUSY; then the PASID
     * rules; then the core and the mock: at the RID the attach op, at a PASID the PASID range
     * ({@code max_pasids}) and {@code set_dev_pasid}. The caller takes the device reference.
     */
    private void doAttach(SwDevice dev, int pasid, SwHwpt h) {
        Err.when(dev.attached(pasid) != null, Err.EBUSY);
        checkPasidCompat(dev, pasid, h);
        Err.when(pasid != 0 && Integer.toUnsignedLong(pasid) >= dev.maxPasids(), Err.EINVAL);
        install(dev, pasid, h);
    }

    /** The driver's part of an attach or replace (the mock's attach op or {@code set_dev_pasid}), then the attachment. */
    private static void install(SwDevice dev, int pasid, SwHwpt h) {
        if (pasid == 0) {
            checkCompatible(dev, h);
            attachViommu(dev, h);
            dev.hwpt = h;
        } else {
            setDevPasid(dev, pasid);
            dev.pasids.put(pasid, h);
        }
        h.users++;
        h.devices++;
    }

    /**
     * {@code iommufd_device_do_replace}: nothing attached at {@code pasid} is EINVAL; the same HWPT
     * is a no-op (null); else the old HWPT, which the caller puts.
     */
    private SwHwpt doReplace(SwDevice dev, int pasid, SwHwpt h) {
        SwHwpt old = dev.attached(pasid);
        Err.when(old == null, Err.EINVAL);
        if (old == h) return null;
        checkPasidCompat(dev, pasid, h);
        install(dev, pasid, h);
        leave(dev, old, pasid);
        return old;
    }

    /** The device's attachment to {@code h} at {@code pasid} ended: its faults from there are answered INVALID (§4.4, §5.5). */
    private void leave(SwDevice dev, SwHwpt h, int pasid) {
        h.users--;
        h.devices--;
        if (h.fault != null) h.fault.answerInvalid(g -> g.device == dev && g.hwpt == h && g.attachment == pasid);
    }

    /** {@code iommufd_hw_pagetable_put}: an auto domain goes with its last device (§2.4). */
    private void put(SwHwpt h) {
        if (h.auto && h.devices == 0) destroyHwpt(h);
    }

    // ---- faults ----

    /**
     * {@code find_fault_handler} (§5.2): the attachment (a PASID, 0 for the RID) a fault at
     * {@code pasid} (0: no PASID) goes to: the HWPT at that PASID, else (the mock keeps a user
     * PASID table) a NESTED HWPT at the RID; without a PASID the RID's. -1 when there is none.
     */
    static int faultAttachment(SwDevice dev, int pasid) {
        if (pasid != 0 && dev.pasids.containsKey(pasid)) return pasid;
        SwHwpt rid = dev.hwpt;
        return rid == null || (pasid != 0 && !rid.nested) ? -1 : 0;
    }

    /** The HWPT taking a fault at {@code attachment}, or null when the fault is dropped (no fault queue there). */
    static SwHwpt faultTarget(SwDevice dev, int attachment) {
        SwHwpt h = attachment < 0 ? null : dev.attached(attachment);
        return h != null && h.fault != null ? h : null;
    }

    // ---- DESTROY and teardown ----

    /** IOMMU_DESTROY (§2.3). */
    int destroy(int id) {
        SwObject o = objects.get(id);
        if (o == null) return -Err.ENOENT;
        if (o.users > 0) return -Err.EBUSY;
        switch (o) {
            case SwIoas ioas -> {
                ioas.destroy();
                if (compatIoas == ioas) compatIoas = null;
                objects.release(id);
            }
            case SwHwpt h -> destroyHwpt(h);
            case SwFault f -> {
                f.destroy();
                objects.release(id);
            }
            case SwSelftest s -> {
                if (s.device.vdev != null) { // 7.3: its vDEVICE goes too, leaving a tombstone
                    int vid = s.device.vdev.id;
                    removeVdevice(s.device.vdev);
                    objects.tombstone(vid);
                }
                detachAll(s.device);
                objects.release(s.device.id);
                objects.release(id);
            }
            case SwViommu v -> {
                v.parent.users--;
                objects.release(id);
            }
            case SwVdevice vd -> {
                removeVdevice(vd);
                objects.release(id);
            }
            case SwVeventq q -> {
                q.destroy();
                q.viommu.veventqs.remove(q.type);
                q.viommu.users--;
                objects.release(id);
            }
            case SwHwQueue q -> destroyHwQueue(q);
            default -> throw new IllegalStateException("unexpected " + o.kind());
        }
        return 0;
    }

    private static void removeVdevice(SwVdevice vd) {
        vd.viommu.vdevs.remove(vd.virtId);
        vd.viommu.users--;
        vd.device.vdev = null;
        vd.device.users--;
    }

    /** Also the abort path of HW_QUEUE_ALLOC once the range is locked. */
    void destroyHwQueue(SwHwQueue q) {
        q.viommu.parent.ioas.unlock(q.lockedStart, q.lockedLast);
        objects.release(q.accessId);
        if (q.prev != null) q.prev.users--;
        q.viommu.hwQueues[q.index] = null;
        q.viommu.users--;
        objects.release(q.id);
    }

    /** closeFd of an access fd: the access is detached and freed. */
    void destroyAccess(SwAccess a) {
        removeFd(a.fd);
        if (a.ioas != null) {
            a.items.clear();
            a.ioas.removeAccess(a);
            a.ioas.users--;
        }
        Libc.close(a.fd);
        objects.release(a.id);
    }

    /** The iommufd is closed: faults answered INVALID, every fd closed, everything freed. */
    void close() {
        for (SwObject o : objects.all()) {
            if (o instanceof SwFault f) f.destroy();
            if (o instanceof SwVeventq q) q.destroy();
        }
        for (MappedPages m : mappedPages.values()) {
            if (m.dmabuf() != null) m.dmabuf().detach();
            m.arena().close();
        }
        mappedPages.clear();
        regions.close();
        regions = java.lang.foreign.Arena.ofShared();
        for (SwAccess a : accesses()) Libc.close(a.fd);
        fds = new Object[64];
        objects.clear();
        memory.clear();
        compatIoas = null;
    }
}
