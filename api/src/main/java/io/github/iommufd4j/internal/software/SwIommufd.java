package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;

import java.util.ArrayList;
import java.util.List;

/**
 * The state of one software iommufd (what the kernel keeps per open {@code /dev/iommu}): the
 * object table, the user memory, the fds handed out, and the object life cycle shared by the
 * commands (HWPT creation, attach, replace, detach, destroy). Every method runs under the
 * backend's lock.
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
    /** 7.3 IOAS_MAP_FILE: the pages objects that are file-backed, with the mapping of the file this backend reads them through. */
    final java.util.Map<Integer, java.lang.foreign.Arena> filePages = new java.util.HashMap<>();
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

    /** {@code iommufd_device_attach} at the RID: returns the ID of the HWPT used. */
    int attach(SwDevice dev, int ptId) {
        SwObject pt = objects.get(ptId);
        Fail.when(pt == null, Err.ENOENT);
        if (pt instanceof SwIoas ioas) return autoDomain(dev, ioas, false);
        Fail.when(!(pt instanceof SwHwpt), Err.EINVAL);
        doAttach(dev, (SwHwpt) pt);
        return pt.id;
    }

    /** {@code iommufd_device_replace} at the RID: returns the ID of the HWPT now attached. */
    int replace(SwDevice dev, int ptId) {
        SwObject pt = objects.get(ptId);
        Fail.when(pt == null, Err.ENOENT);
        if (pt instanceof SwIoas ioas) return autoDomain(dev, ioas, true);
        Fail.when(!(pt instanceof SwHwpt), Err.EINVAL);
        SwHwpt old = doReplace(dev, (SwHwpt) pt);
        if (old != null) put(old);
        return pt.id;
    }

    /** Detaches the RID (the device is being destroyed). */
    void detach(SwDevice dev) {
        SwHwpt old = dev.hwpt;
        if (old == null) return;
        dev.hwpt = null;
        dev.users--;
        leave(dev, old);
        put(old);
    }

    /**
     * {@code iommufd_device_auto_get_domain}: the first existing auto domain of the IOAS that takes
     * the device (EINVAL means incompatible: try the next), else a new auto domain.
     */
    private int autoDomain(SwDevice dev, SwIoas ioas, boolean replace) {
        for (SwHwpt h : new ArrayList<>(ioas.domains)) {
            if (!h.auto) continue;
            try {
                if (replace) {
                    SwHwpt old = doReplace(dev, h);
                    if (old != null) put(old);
                } else {
                    doAttach(dev, h);
                }
                return h.id;
            } catch (Fail f) {
                if (f.errno != Err.EINVAL) throw f;
            }
        }
        SwHwpt h = createPaging(ioas, 0, true, false);
        SwHwpt old;
        try {
            if (replace) {
                old = doReplace(dev, h);
            } else {
                doAttach(dev, h);
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
        Fail.when(h.dirtyOps && (dev.flags & SwDevice.NO_DIRTY) != 0, Err.EINVAL);
    }

    /**
     * The 7.3 mock's attach op: a nested HWPT of a vIOMMU needs the device's vDEVICE there
     * (ENOENT), whose virt_id the device keeps for TRIGGER_VEVENT.
     */
    private static void attachViommu(SwDevice dev, SwHwpt h) {
        SwViommu v = h.viommu;
        Fail.when(v != null && (dev.vdev == null || dev.vdev.viommu != v), Err.ENOENT);
        dev.viommu = v;
        dev.vdevId = v != null ? dev.vdev.virtId : 0;
    }

    private void doAttach(SwDevice dev, SwHwpt h) {
        Fail.when(dev.hwpt != null, Err.EINVAL);
        checkCompatible(dev, h);
        attachViommu(dev, h);
        dev.hwpt = h;
        h.users++;
        h.devices++;
        dev.users++;
    }

    /** {@code iommufd_device_do_replace}: the old HWPT (the caller puts it), or null if unchanged. */
    private SwHwpt doReplace(SwDevice dev, SwHwpt h) {
        SwHwpt old = dev.hwpt;
        Fail.when(old == null, Err.EINVAL);
        if (old == h) return null;
        checkCompatible(dev, h);
        attachViommu(dev, h);
        dev.hwpt = h;
        h.users++;
        h.devices++;
        leave(dev, old);
        return old;
    }

    /** The device's attachment to {@code h} ended: its faults there are answered INVALID (§4.4, §5.5). */
    private void leave(SwDevice dev, SwHwpt h) {
        h.users--;
        h.devices--;
        if (h.fault != null) h.fault.answerInvalid(g -> g.device == dev && g.hwpt == h);
    }

    /** {@code iommufd_hw_pagetable_put}: an auto domain goes with its last device (§2.4). */
    private void put(SwHwpt h) {
        if (h.auto && h.devices == 0) destroyHwpt(h);
    }

    // ---- faults ----

    /**
     * {@code find_fault_handler} (§5.2): a PASID fault goes to the HWPT at that PASID (no PASID
     * attachments exist here) or else to a NESTED HWPT at the RID; others to the RID's HWPT.
     * Null when the fault is dropped.
     */
    static SwHwpt faultTarget(SwDevice dev, int pasid) {
        SwHwpt h = dev.hwpt;
        if (h == null || (pasid != 0 && !h.nested)) return null;
        return h.fault != null ? h : null;
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
                detach(s.device);
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
        for (java.lang.foreign.Arena a : filePages.values()) a.close();
        filePages.clear();
        regions.close();
        regions = java.lang.foreign.Arena.ofShared();
        for (SwAccess a : accesses()) Libc.close(a.fd);
        fds = new Object[64];
        objects.clear();
        memory.clear();
        compatIoas = null;
    }
}
