package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Libc;
import io.github.iommufd4j.bindings.uapi.iommu_test_cmd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.github.iommufd4j.internal.software.Abi.*;
import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;
import static io.github.iommufd4j.internal.software.U64.lt;

/**
 * IOMMU_TEST_CMD: the mock driver of {@code CONFIG_IOMMUFD_TEST} (§6.2): ops 1..15, and on 7.3
 * ops 16..23 (vIOMMU caches and events, PASID attach, dma-buf), which 6.12 answers EOPNOTSUPP as
 * an unknown op.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class MockCommands {
    private static final long ACCESS_MAX = 16L << 20;

    private final SwIommufd fd;

    MockCommands(SwIommufd fd) {
        this.fd = fd;
    }

    int run(Call c) {
        MemorySegment k = c.k;
        int op = iommu_test_cmd.op(k), id = iommu_test_cmd.id(k); // __reserved is never checked
        if (op == OP_ADD_RESERVED) return addReserved(id, iommu_test_cmd.add_reserved(k));
        if (op == OP_MOCK_DOMAIN || op == OP_MOCK_DOMAIN_FLAGS) return mockDomain(c, op, id);
        if (op == OP_MOCK_DOMAIN_REPLACE) return mockDomainReplace(c, id);
        if (op == OP_MD_CHECK_MAP) return checkMap(id, iommu_test_cmd.check_map(k));
        if (op == OP_MD_CHECK_REFS) return checkRefs(iommu_test_cmd.check_refs(k));
        if (op == OP_CREATE_ACCESS) return createAccess(c, id);
        if (op == OP_DESTROY_ACCESS_PAGES) return destroyAccessPages(id, iommu_test_cmd.destroy_access_pages(k));
        if (op == OP_ACCESS_PAGES) return accessPages(c, id);
        if (op == OP_ACCESS_RW) return accessRw(id, iommu_test_cmd.access_rw(k));
        if (op == OP_SET_TEMP_MEMORY_LIMIT) { // sizes the kernel's (module-wide) batch buffers: no visible effect
            int limit = iommu_test_cmd.memory_limit.limit(iommu_test_cmd.memory_limit(k));
            return Integer.compareUnsigned(limit, 12) < 0 ? -Err.EINVAL : 0;
        }
        if (op == OP_ACCESS_REPLACE_IOAS) return accessReplaceIoas(id, iommu_test_cmd.access_replace_ioas(k));
        if (op == OP_DIRTY) return dirty(c, id);
        if (op == OP_MD_CHECK_IOTLB) return checkIotlb(id, iommu_test_cmd.check_iotlb(k));
        if (op == OP_TRIGGER_IOPF) return triggerIopf(iommu_test_cmd.trigger_iopf(k));
        if (fd.v73() && op == OP_TRIGGER_VEVENT) return triggerVevent(iommu_test_cmd.trigger_vevent.dev_id(iommu_test_cmd.trigger_vevent(k)));
        if (fd.v73() && op == OP_DEV_CHECK_CACHE) return checkDevCache(id, iommu_test_cmd.check_dev_cache(k));
        if (fd.v73() && (op == OP_PASID_ATTACH || op == OP_PASID_REPLACE)) return pasidChange(c, op, id);
        if (fd.v73() && op == OP_PASID_DETACH) {
            fd.detach(selftest(id).device, iommu_test_cmd.pasid_detach.pasid(iommu_test_cmd.pasid_detach(k)));
            return 0;
        }
        if (fd.v73() && op == OP_PASID_CHECK_HWPT) return pasidCheck(id, iommu_test_cmd.pasid_check(k));
        if (fd.v73() && op == OP_DMABUF_GET) return dmabufGet(iommu_test_cmd.dmabuf_get(k));
        if (fd.v73() && op == OP_DMABUF_REVOKE) return dmabufRevoke(iommu_test_cmd.dmabuf_revoke(k));
        return -Err.EOPNOTSUPP;
    }

    private int addReserved(int id, MemorySegment a) {
        long start = iommu_test_cmd.add_reserved.start(a), length = iommu_test_cmd.add_reserved.length(a);
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(start, length - 1)) return -Err.EOVERFLOW;
        fd.ioas(id).reserve(start, start + length - 1, null);
        return 0;
    }

    /** IDs in order: stdev, idev, then (maybe) the auto domain; all released on failure (§2.1). */
    private int mockDomain(Call c, int op, int ptId) {
        MemorySegment k = c.k;
        MemorySegment m = iommu_test_cmd.mock_domain_flags(k);
        int flags = op == OP_MOCK_DOMAIN_FLAGS ? iommu_test_cmd.mock_domain_flags.dev_flags(m) : 0;
        int valid = SwDevice.NO_DIRTY | (fd.v73() ? SwDevice.PASID : SwDevice.HUGE_IOVA);
        if ((flags & ~valid) != 0) return -Err.EINVAL;
        int sid = fd.objects.reserve();
        int did;
        try {
            did = fd.objects.reserve();
        } catch (Fail f) {
            fd.objects.release(sid);
            throw f;
        }
        SwDevice dev = new SwDevice(did, flags);
        // The bind publishes the idev before the attach (iommufd_device_bind finalizes it), so an
        // attach to the idev's own id finds a DEVICE: EINVAL, not ENOENT.
        fd.objects.publish(dev);
        int hwptId;
        try {
            hwptId = fd.attach(dev, 0, ptId);
        } catch (Fail f) {
            fd.objects.release(did);
            fd.objects.release(sid);
            throw f;
        }
        iommu_test_cmd.mock_domain_flags.out_stdev_id(m, sid);
        iommu_test_cmd.mock_domain_flags.out_hwpt_id(m, hwptId);
        iommu_test_cmd.mock_domain_flags.out_idev_id(m, did);
        int rc = c.respond();
        if (rc != 0) {
            fd.detach(dev, 0);
            fd.objects.release(did);
            fd.objects.release(sid);
            return rc;
        }
        fd.objects.publish(new SwSelftest(sid, dev));
        return 0;
    }

    private SwSelftest selftest(int stdevId) {
        return (SwSelftest) fd.objects.get(stdevId, SwObject.Kind.SELFTEST);
    }

    private int mockDomainReplace(Call c, int stdevId) {
        MemorySegment r = iommu_test_cmd.mock_domain_replace(c.k);
        SwSelftest st = selftest(stdevId);
        int hwptId = fd.replace(st.device, 0, iommu_test_cmd.mock_domain_replace.pt_id(r));
        iommu_test_cmd.mock_domain_replace.pt_id(r, hwptId);
        return c.respond();
    }

    /** Each IO page of {@code [iova, +length)} must translate to the same user byte as {@code uptr} (compared by address). */
    private int checkMap(int id, MemorySegment m) {
        long iova = iommu_test_cmd.check_map.iova(m), length = iommu_test_cmd.check_map.length(m);
        long uptr = iommu_test_cmd.check_map.uptr(m);
        SwHwpt h;
        long page;
        if (fd.v73()) { // 7.3 looks up first, then checks alignment to the domain's smallest page
            h = (SwHwpt) fd.objects.get(id, SwObject.Kind.HWPT_PAGING);
            page = h.minPage;
            if (misaligned(iova, length, uptr, page)) return -Err.EINVAL;
        } else {
            page = SwHwpt.MOCK_PAGE;
            if (misaligned(iova, length, uptr, page)) return -Err.EINVAL;
            h = (SwHwpt) fd.objects.get(id, SwObject.Kind.HWPT_PAGING);
        }
        for (long off = 0; Long.compareUnsigned(off, length) < 0; off += page) {
            if (!fd.memory.pinnable(uptr + off, page, false)) return -Err.EFAULT;
            long p = h.ioas.findMapped(iova + off);
            if (p < 0 || h.ioas.areas.data(p) + (iova + off - h.ioas.areas.start(p)) != uptr + off) return -Err.EINVAL;
        }
        return 0;
    }

    private static boolean misaligned(long iova, long length, long uptr, long page) {
        return iova % page != 0 || length % page != 0 || uptr % page != 0 || U64.addOverflows(uptr, length);
    }

    /**
     * The pin count of each CPU page of {@code [uptr, +length)} must be {@code refs}. The model: a
     * pages object (one MAP, shared by its copies) pins each CPU page it covers once while it is
     * used by an IOAS with a domain or by an ACCESS_PAGES item (§3.4 row 6); a page's count is the
     * number of distinct pages objects pinning it.
     */
    private int checkRefs(MemorySegment r) {
        long length = iommu_test_cmd.check_refs.length(r), uptr = iommu_test_cmd.check_refs.uptr(r);
        int refs = iommu_test_cmd.check_refs.refs(r);
        if (length % PAGE_SIZE != 0 || uptr % PAGE_SIZE != 0 || U64.addOverflows(uptr, length)) return -Err.EINVAL;
        Map<Long, Set<Integer>> pins = pins(uptr, uptr + length - 1);
        for (long off = 0; Long.compareUnsigned(off, length) < 0; off += PAGE_SIZE) {
            if (!fd.memory.pinnable(uptr + off, PAGE_SIZE, false)) return -Err.EFAULT;
            if (pins.getOrDefault((uptr + off) / PAGE_SIZE, Set.of()).size() != refs) return -Err.EIO;
        }
        return 0;
    }

    /** The pages objects pinning each CPU page (by page number) of {@code [first, last]}. */
    private Map<Long, Set<Integer>> pins(long first, long last) {
        Map<Long, Set<Integer>> out = new HashMap<>();
        for (SwObject o : fd.objects.all()) {
            if (o instanceof SwIoas ioas && !ioas.domains.isEmpty()) {
                ioas.forEachArea((iova, areaLast, va, pages, flags) -> addPins(out, first, last, pages, va, areaLast - iova + 1));
            }
        }
        for (SwAccess a : fd.accesses()) {
            for (SwAccess.Item item : a.items) {
                for (int i = 0; i < item.pins().length; i += 3) {
                    addPins(out, first, last, (int) item.pins()[i], item.pins()[i + 1], item.pins()[i + 2]);
                }
            }
        }
        return out;
    }

    private static void addPins(Map<Long, Set<Integer>> out, long first, long last, int pages, long va, long len) {
        long from = Math.max(va, first) / PAGE_SIZE, to = Math.min(va + len - 1, last) / PAGE_SIZE;
        for (long page = from; page <= to; page++) out.computeIfAbsent(page, p -> new HashSet<>()).add(pages);
    }

    /** The access's token fd is an eventfd; its ID is hidden (§2.1). */
    private int createAccess(Call c, int ioasId) {
        MemorySegment a = iommu_test_cmd.create_access(c.k);
        int flags = iommu_test_cmd.create_access.flags(a);
        if ((flags & ~ACCESS_CREATE_NEEDS_PIN_PAGES) != 0) return -Err.EOPNOTSUPP;
        int token = Libc.eventfd(0, Libc.EFD_CLOEXEC);
        if (token < 0) return -Err.ENOMEM;
        SwAccess access = null;
        try {
            access = new SwAccess(fd.objects.reserve(), token, flags != 0);
            SwIoas ioas = fd.ioas(ioasId);
            ioas.addAccess(access);
            access.ioas = ioas;
            ioas.users++;
        } catch (Fail f) {
            if (access != null) fd.objects.release(access.id);
            Libc.close(token);
            throw f;
        }
        iommu_test_cmd.create_access.out_access_fd(a, token);
        int rc = c.respond();
        fd.objects.publish(access);
        fd.putFd(token, access);
        if (rc != 0) fd.destroyAccess(access);
        return rc;
    }

    private SwAccess access(int accessFd) {
        SwAccess a = fd.access(accessFd);
        Err.when(a == null, Err.EBADFD);
        return a;
    }

    private int accessReplaceIoas(int accessFd, MemorySegment r) {
        SwAccess a = access(accessFd);
        if (a.ioas == null) return -Err.ENOENT;
        SwIoas next = fd.ioas(iommu_test_cmd.access_replace_ioas.ioas_id(r));
        if (next == a.ioas) return 0;
        next.addAccess(a);
        next.users++;
        a.items.clear(); // the unmap callback over the whole range
        a.ioas.removeAccess(a);
        a.ioas.users--;
        a.ioas = next;
        return 0;
    }

    private int accessPages(Call c, int accessFd) {
        MemorySegment p = iommu_test_cmd.access_pages(c.k);
        long length = iommu_test_cmd.access_pages.length(p);
        int flags = iommu_test_cmd.access_pages.flags(p);
        if (lt(ACCESS_MAX, length)) return -Err.ENOMEM;
        if ((flags & ~(ACCESS_WRITE | ACCESS_SYZ)) != 0) return -Err.EOPNOTSUPP;
        SwAccess a = access(accessFd);
        if (!a.needsPin) return -Err.EOPNOTSUPP;
        long iova = iommu_test_cmd.access_pages.iova(p);
        if ((flags & ACCESS_SYZ) != 0 && a.ioas != null) {
            iova = IoasCommands.syzIova(a.ioas, iova);
            iommu_test_cmd.access_pages.iova(p, iova);
        }
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(iova, length - 1)) return -Err.EOVERFLOW;
        if (a.ioas == null) return -Err.ENOENT;
        long last = iova + length - 1;
        boolean write = (flags & ACCESS_WRITE) != 0;
        List<Long> pinList = new ArrayList<>();
        List<Long> pageVas = new ArrayList<>();
        RangeTable areas = a.ioas.areas;
        for (long cur = iova;;) { // iommufd_access_pin_pages
            long q = areas.find(cur);
            if (q < 0) return -Err.ENOENT;
            long end = U64.min(last, areas.last(q)), va = areas.data(q) + (cur - areas.start(q));
            long areaLastVa = areas.data(q) + (areas.last(q) - areas.start(q));
            if (va % PAGE_SIZE != 0 || (end != last && areaLastVa % PAGE_SIZE != PAGE_SIZE - 1)) return -Err.EINVAL;
            if ((areas.flags(q) & (write ? SwIoas.WRITE : SwIoas.READ)) == 0) return -Err.EPERM;
            if (a.ioas.dmabuf(q)) return -Err.EINVAL; // 7.3: a dma-buf's pages cannot be pinned
            // Without a domain the pages are pinned from user memory now (a domain already holds them).
            boolean writable = (areas.flags(q) & SwIoas.PAGES_WRITABLE) != 0;
            if (a.ioas.domains.isEmpty() && !fd.memory.pinnable(va, end - cur + 1, writable)) return -Err.EFAULT;
            pinList.add((long) areas.tag(q));
            pinList.add(va);
            pinList.add(end - cur + 1);
            for (long pg = va / PAGE_SIZE; pg <= (va + end - cur) / PAGE_SIZE; pg++) pageVas.add(pg);
            if (end == last) break;
            cur = end + 1;
        }
        long uptr = iommu_test_cmd.access_pages.uptr(p);
        if (uptr != 0) { // the pinned pages must be those of uptr - (iova % PAGE_SIZE)
            long base = uptr - (iova % PAGE_SIZE);
            for (int i = 0; i < pageVas.size(); i++) {
                long page = base + i * PAGE_SIZE;
                if (!fd.memory.pinnable(page, PAGE_SIZE, false)) return -Err.EFAULT;
                if (page / PAGE_SIZE != pageVas.get(i)) return -Err.EBADE;
            }
        }
        SwAccess.Item item = new SwAccess.Item(a.nextItemId++, iova, length,
                pinList.stream().mapToLong(Long::longValue).toArray());
        a.items.add(item);
        iommu_test_cmd.access_pages.out_access_pages_id(p, item.id());
        int rc = c.respond();
        if (rc != 0) a.items.remove(item);
        return rc;
    }

    private int destroyAccessPages(int accessFd, MemorySegment d) {
        SwAccess a = access(accessFd);
        int itemId = iommu_test_cmd.destroy_access_pages.access_pages_id(d);
        return a.items.removeIf(i -> i.id() == itemId) ? 0 : -Err.ENOENT;
    }

    /** {@code iommufd_access_rw}: byte-granular, through contiguous areas, earlier areas done before a failure. */
    private int accessRw(int accessFd, MemorySegment r) {
        long length = iommu_test_cmd.access_rw.length(r), uptr = iommu_test_cmd.access_rw.uptr(r);
        int flags = iommu_test_cmd.access_rw.flags(r);
        if (lt(ACCESS_MAX, length)) return -Err.ENOMEM;
        if ((flags & ~(ACCESS_RW_WRITE | ACCESS_RW_SLOW_PATH | ACCESS_SYZ)) != 0) return -Err.EOPNOTSUPP;
        SwAccess a = access(accessFd);
        boolean write = (flags & ACCESS_RW_WRITE) != 0;
        MemorySegment tmp = MemorySegment.ofArray(new byte[(int) length]);
        if (write && !fd.memory.read(uptr, tmp, 0, length)) return -Err.EFAULT;
        long iova = iommu_test_cmd.access_rw.iova(r);
        if ((flags & ACCESS_SYZ) != 0) iova = a.ioas == null ? 0 : IoasCommands.syzIova(a.ioas, iova);
        if (length == 0) return -Err.EINVAL;
        if (U64.addOverflows(iova, length - 1)) return -Err.EOVERFLOW;
        if (a.ioas == null) return -Err.ENOENT;
        long last = iova + length - 1, done = 0;
        RangeTable areas = a.ioas.areas;
        for (long cur = iova;;) {
            long q = areas.find(cur);
            if (q < 0) return -Err.ENOENT;
            long end = U64.min(last, areas.last(q)), va = areas.data(q) + (cur - areas.start(q)), n = end - cur + 1;
            if ((areas.flags(q) & (write ? SwIoas.WRITE : SwIoas.READ)) == 0) return -Err.EPERM;
            if (a.ioas.dmabuf(q)) return -Err.EINVAL; // 7.3: nor read or written through an access
            boolean ok = write ? fd.memory.write(va, tmp, done, n) : fd.memory.read(va, tmp, done, n);
            if (!ok) return -Err.EFAULT;
            done += n;
            if (end == last) break;
            cur = end + 1;
        }
        if (!write && !fd.memory.write(uptr, tmp, 0, length)) return -Err.EFAULT;
        return 0;
    }

    /** Marks IOPTEs dirty for the set bits of the user bitmap; the count differs between 6.12 and 7.3 (§6.2). */
    private int dirty(Call c, int id) {
        MemorySegment d = iommu_test_cmd.dirty(c.k);
        long iova = iommu_test_cmd.dirty.iova(d), length = iommu_test_cmd.dirty.length(d);
        long pageSize = iommu_test_cmd.dirty.page_size(d), uptr = iommu_test_cmd.dirty.uptr(d);
        if (pageSize == 0 || length == 0 || Long.remainderUnsigned(iova, pageSize) != 0
                || Long.remainderUnsigned(length, pageSize) != 0 || uptr == 0) {
            return -Err.EINVAL;
        }
        long max = Long.divideUnsigned(length, pageSize);
        if (max > 1L << 27) return -Err.EOVERFLOW;
        SwHwpt h = (SwHwpt) fd.objects.get(id, SwObject.Kind.HWPT_PAGING);
        if (!h.dirtyTracking) return -Err.EINVAL;
        MemorySegment bitmap = fd.memory.copyIn(uptr, (max + 7) / 8);
        if (bitmap == null) return -Err.EFAULT;
        long count = 0;
        for (long i = 0; i < max; i++) {
            if ((bitmap.get(ValueLayout.JAVA_BYTE, i >>> 3) & (1 << (i & 7))) == 0) continue;
            long cur = iova + i * pageSize;
            if (fd.v73()) { // the generic page table marks the PAGE_SIZE leaf (both 2 KiB halves) and counts every bit
                long leaf = cur & -PAGE_SIZE;
                markIfMapped(h, leaf);
                markIfMapped(h, leaf + SwHwpt.MOCK_PAGE);
                count++;
            } else if (markIfMapped(h, Long.divideUnsigned(cur, pageSize) * SwHwpt.MOCK_PAGE)) {
                count++; // 6.12 quirk: the index cur/page_size is taken in the 2 KiB entry space
            }
        }
        iommu_test_cmd.dirty.out_nr_dirty(d, count);
        return c.respond();
    }

    private static boolean markIfMapped(SwHwpt h, long iova) {
        if (h.ioas.findMapped(iova) < 0) return false;
        h.dirty.set(iova);
        return true;
    }

    private int checkIotlb(int id, MemorySegment t) {
        SwHwpt h = (SwHwpt) fd.objects.get(id, SwObject.Kind.HWPT_NESTED);
        int slot = iommu_test_cmd.check_iotlb.id(t);
        if (Integer.compareUnsigned(slot, 3) > 0 || h.iotlb[slot] != iommu_test_cmd.check_iotlb.iotlb(t)) {
            return -Err.EINVAL;
        }
        return 0;
    }

    /** One LAST_PAGE fault; always 0, even when no fault HWPT takes it (§6.2). */
    private int triggerIopf(MemorySegment t) {
        SwDevice dev = fd.device(iommu_test_cmd.trigger_iopf.dev_id(t));
        int pasid = iommu_test_cmd.trigger_iopf.pasid(t);
        int flags = SwFault.FLAG_LAST_PAGE | (pasid != 0 ? SwFault.FLAG_PASID_VALID : 0);
        var fault = new SwFault.Fault(flags, dev.id, pasid, iommu_test_cmd.trigger_iopf.grpid(t),
                iommu_test_cmd.trigger_iopf.perm(t), iommu_test_cmd.trigger_iopf.addr(t));
        int attachment = SwIommufd.faultAttachment(dev, pasid);
        SwHwpt target = SwIommufd.faultTarget(dev, attachment);
        if (target != null) target.fault.report(new SwFault.Group(dev, target, attachment, List.of(fault)));
        return 0;
    }

    /** 7.3 TRIGGER_VEVENT: the virt_id captured at attach goes to the vIOMMU's SELFTEST queue (a full one records a loss). */
    private int triggerVevent(int devId) {
        SwDevice dev = fd.device(devId);
        if (dev.viommu == null || dev.vdevId == 0) return -Err.ENOENT;
        SwVeventq q = dev.viommu.veventqs.get(ViommuCommands.VEVENTQ_TYPE_SELFTEST);
        if (q == null) return -Err.EOPNOTSUPP;
        byte[] data = new byte[4];
        MemorySegment.ofArray(data).set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, (int) dev.vdevId);
        q.report(data);
        return 0;
    }

    /**
     * 7.3 PASID_ATTACH / PASID_REPLACE (§4.4; PASID 0 is the RID): {@code pt_id} written back.
     * An attach whose write-back fails is undone; a replace is not.
     */
    private int pasidChange(Call c, int op, int stdevId) {
        MemorySegment a = iommu_test_cmd.pasid_attach(c.k); // pasid_replace has the same layout
        SwDevice dev = selftest(stdevId).device;
        int pasid = iommu_test_cmd.pasid_attach.pasid(a), ptId = iommu_test_cmd.pasid_attach.pt_id(a);
        boolean attach = op == OP_PASID_ATTACH;
        iommu_test_cmd.pasid_attach.pt_id(a, attach ? fd.attach(dev, pasid, ptId) : fd.replace(dev, pasid, ptId));
        int rc = c.respond();
        if (rc != 0 && attach) fd.detach(dev, pasid);
        return rc;
    }

    /** 7.3 PASID_CHECK_HWPT: {@code hwpt_id} 0 checks nothing is attached at the PASID, else that HWPT is. */
    private int pasidCheck(int stdevId, MemorySegment m) {
        SwHwpt attached = selftest(stdevId).device.attached(iommu_test_cmd.pasid_check.pasid(m));
        int hwptId = iommu_test_cmd.pasid_check.hwpt_id(m);
        if (hwptId == 0) return attached != null ? -Err.EINVAL : 0;
        SwObject o = fd.objects.get(hwptId);
        if (o == null) return -Err.ENOENT;
        return o instanceof SwHwpt h && h == attached ? 0 : -Err.EINVAL;
    }

    /**
     * 7.3 DMABUF_GET: a new mock dma-buf of the length rounded up to PAGE_SIZE (1..512 pages, else
     * EINVAL), installed at the lowest free fd. The ioctl returns 0, not the fd: the kernel drops
     * {@code dma_buf_fd}'s result, so user space finds the fd by looking.
     */
    private static int dmabufGet(MemorySegment g) {
        long length = (Integer.toUnsignedLong(iommu_test_cmd.dmabuf_get.length(g)) + PAGE_SIZE - 1) & -PAGE_SIZE;
        if (length == 0 || length > 512 * PAGE_SIZE) return -Err.EINVAL;
        int rc = SwDmabuf.create(length, (iommu_test_cmd.dmabuf_get.open_flags(g) & Libc.O_CLOEXEC) != 0);
        return Math.min(rc, 0);
    }

    /** 7.3 DMABUF_REVOKE: {@code dma_buf_get} fails EBADF for no file, EINVAL for a file that is not a dma-buf. */
    private static int dmabufRevoke(MemorySegment r) {
        SwDmabuf b = SwDmabuf.of(iommu_test_cmd.dmabuf_revoke.dmabuf_fd(r));
        if (b == null) return -Err.EINVAL;
        b.revoke(iommu_test_cmd.dmabuf_revoke.revoked(r) != 0);
        return 0;
    }

    /** 7.3 DEV_CHECK_CACHE. */
    private int checkDevCache(int devId, MemorySegment m) {
        SwDevice dev = fd.device(devId);
        int slot = iommu_test_cmd.check_dev_cache.id(m), value = iommu_test_cmd.check_dev_cache.cache(m);
        if (Integer.compareUnsigned(slot, 3) > 0 || dev.cache[slot] != value) return -Err.EINVAL;
        return 0;
    }
}
