package io.github.iommufd4j.internal.software;

import java.util.ArrayList;
import java.util.List;

import static io.github.iommufd4j.internal.software.U64.MAX;
import static io.github.iommufd4j.internal.software.U64.PAGE_SIZE;
import static io.github.iommufd4j.internal.software.U64.intersects;
import static io.github.iommufd4j.internal.software.U64.le;
import static io.github.iommufd4j.internal.software.U64.lt;

/**
 * An IO address space (§3): the io_pagetable with its areas, reserved and allowed ranges, the
 * paging domains (HWPT_PAGING) filled from it and the accesses attached to it.
 *
 * <p>An area is a row of {@link #areas}: {@code [iova, last]}, data = user VA of its first byte,
 * tag = its pages object, flags = {@link #READ}/{@link #WRITE} (the IOMMU protection) and
 * {@link #PAGES_WRITABLE} (the pages object was mapped writable, §3.4). Areas made by COPY share
 * the pages object (tag) of their source. {@link #holes} is the complement of
 * (reserved ∪ areas), kept so that automatic IOVA allocation does not walk every area.
 *
 * <p>§ numbers in this file refer to docs/kernel-behaviour.md.
 */
final class SwIoas extends SwObject {
    /** Area flags: the permissions, whether the pages are writable, and whether they are a dma-buf's. */
    static final int READ = 1, WRITE = 2, PAGES_WRITABLE = 4, DMABUF = 8;

    /** A run of pages to map: user VA, length, pages object and whether it was mapped writable. */
    record Piece(long va, long length, int pages, boolean writable) {}

    /** A reserved IOVA range; owner null for TEST ADD_RESERVED, else the HWPT whose aperture it is. */
    private record Reserved(long start, long last, Object owner) {}

    private final UserMemory memory;
    /** The iommufd's file- and dma-buf-backed pages objects (shared by its IOASes). */
    private final java.util.Map<Integer, SwIommufd.MappedPages> mappedPages;
    final RangeTable areas = new RangeTable(false);
    /** Translations of {@link #areas} for {@link #translate}: every change of an area invalidates its range. */
    private final Iotlb tlb = new Iotlb();
    /** The bytes the areas cover (sizes the IOTLB). */
    private long mappedBytes;
    private final RangeTable holes = new RangeTable(false);
    private final List<Reserved> reserved = new ArrayList<>();
    /** ALLOW_IOVAS ranges, {start, last} pairs sorted by start. */
    private long[][] allowed = new long[0][];
    /** The spans automatic allocation searches (§3.2 step 6), recomputed when {@link #allowed} changes. */
    private long[][] spans = {{PAGE_SIZE, MAX - PAGE_SIZE}};
    /** The HWPT_PAGING objects on this IOAS, in creation order (the kernel's hwpt_list). */
    final List<SwHwpt> domains = new ArrayList<>();
    final List<SwAccess> accesses = new ArrayList<>();
    boolean hugePagesDisabled;
    long alignment = 1;

    SwIoas(int id, UserMemory memory, java.util.Map<Integer, SwIommufd.MappedPages> mappedPages) {
        super(id);
        this.memory = memory;
        this.mappedPages = mappedPages;
        holes.insert(0, MAX, 0, 0, 0, null);
    }

    @Override
    Kind kind() {
        return Kind.IOAS;
    }

    // ---- lookups ----

    /**
     * The user VA behind {@code iova} if the mapping permits the access, else -1: from the IOTLB,
     * else from the table, caching the page while {@code stamp} (the caller's read) is valid.
     */
    long translate(long iova, boolean write, FifoLock lock, long stamp) {
        long va = tlb.lookup(iova, write);
        if (va != Iotlb.MISS) return va;
        long p = findMapped(iova);
        if (p < 0) return -1;
        long start = areas.start(p), data = areas.data(p);
        int flags = areas.flags(p);
        if ((flags & DMABUF) == 0) tlb.fill(iova, start, areas.last(p), data, flags, areas.size(), mappedBytes, lock, stamp);
        return (flags & (write ? WRITE : READ)) == 0 ? -1 : data + (iova - start);
    }

    /** Whether area {@code p}'s pages are a (mock) dma-buf's. */
    boolean dmabuf(long p) {
        return (areas.flags(p) & DMABUF) != 0; // a flag, not a map lookup: translate asks per DMA
    }

    /** Whether area {@code p} is a revoked dma-buf's: its IOPTEs are gone from every domain (§3.9). */
    boolean revoked(long p) {
        return dmabuf(p) && mappedPages.get(areas.tag(p)).dmabuf().revoked;
    }

    /** The area holding {@code iova} if the domains translate it (not a revoked dma-buf's), else -1. */
    long findMapped(long iova) {
        long p = areas.find(iova);
        return p < 0 || revoked(p) ? -1 : p;
    }

    /**
     * The address {@code iopt_alloc_iova} aligns to for a piece: its user VA, or for a file or
     * dma-buf its offset in the file (§3.2 step 1).
     */
    private long allocationAddress(Piece piece) {
        SwIommufd.MappedPages m = mappedPages.get(piece.pages());
        return piece.va() + (m != null ? m.offset() : 0);
    }

    /**
     * {@code iopt_get_pages} (§3.4 row 3): the pages under {@code [iova, iova+length)}, which must be
     * covered by contiguous areas (ENOENT otherwise). One piece per area crossed.
     */
    List<Piece> pages(long iova, long length) {
        Err.when(length == 0, Err.EINVAL);
        Err.when(U64.addOverflows(iova, length - 1), Err.EOVERFLOW);
        long last = iova + length - 1;
        List<Piece> out = new ArrayList<>();
        long cur = iova;
        for (;;) {
            long p = areas.find(cur);
            Err.when(p < 0, Err.ENOENT);
            long end = U64.min(last, areas.last(p));
            out.add(new Piece(areas.data(p) + (cur - areas.start(p)), end - cur + 1, areas.tag(p),
                    (areas.flags(p) & PAGES_WRITABLE) != 0));
            if (end == last) return out;
            cur = end + 1;
        }
    }

    // ---- map / unmap ----

    /**
     * {@code iopt_alloc_area_pages} + {@code iopt_insert_area} + domain fill (§3.1 rows 6-10): maps
     * the pieces back to back from {@code iova} (fixed) or from an allocated IOVA; returns it.
     */
    long map(List<Piece> pieces, long length, long iova, boolean fixed, int prot) {
        iova = place(length, iova, fixed, fixed ? 0 : allocationAddress(pieces.get(0)));
        for (int i = 0; i < pieces.size(); i++) checkPiece(pieces.get(i).va(), pieces.get(i).writable(), prot);
        if (!domains.isEmpty()) { // the pages are pinned now (row 10), then mapped in each domain
            for (int i = 0; i < pieces.size(); i++) pin(pieces.get(i).va(), pieces.get(i).length(), pieces.get(i).writable());
            checkDomains(prot);
        }
        long at = iova;
        for (int i = 0; i < pieces.size(); i++) {
            Piece piece = pieces.get(i);
            SwIommufd.MappedPages m = mappedPages.get(piece.pages());
            insertArea(at, piece.length(), piece.va(), prot, piece.pages(), piece.writable(), m != null && m.dmabuf() != null);
            at += piece.length();
        }
        return iova;
    }

    /**
     * {@link #map} of one piece of user memory with a new pages object (IOAS_MAP, VFIO MAP_DMA), the
     * same steps without the piece list: the hot path allocates nothing.
     */
    long mapUser(long va, long length, int pages, boolean writable, long iova, boolean fixed, int prot) {
        iova = place(length, iova, fixed, va); // a new pages object is no file's: it aligns to the VA
        checkPiece(va, writable, prot);
        if (!domains.isEmpty()) {
            pin(va, length, writable);
            checkDomains(prot);
        }
        insertArea(iova, length, va, prot, pages, writable, false);
        return iova;
    }

    /** The length check and the IOVA: {@code iova} checked (fixed) or allocated for {@code allocationAddress}. */
    private long place(long length, long iova, boolean fixed, long allocationAddress) {
        Err.when(length == 0 || (length & (alignment - 1)) != 0, Err.EINVAL);
        if (fixed) checkIova(iova, length);
        else iova = allocIova(allocationAddress, length);
        return iova;
    }

    private void checkPiece(long va, boolean writable, int prot) {
        Err.when((prot & WRITE) != 0 && !writable, Err.EPERM);
        Err.when(((va % PAGE_SIZE) & (alignment - 1)) != 0, Err.EINVAL);
    }

    /** FOLL_WRITE for a writable pages object: read-only memory is EFAULT. */
    private void pin(long va, long length, boolean writable) {
        Err.when(!memory.pinnable(va, length, writable), Err.EFAULT);
    }

    private void checkDomains(int prot) {
        for (int i = 0; i < domains.size(); i++) Err.when(!domains.get(i).maps(prot), Err.EINVAL);
    }

    private void insertArea(long iova, long length, long va, int prot, int pages, boolean writable, boolean dmabuf) {
        int flags = prot | (writable ? PAGES_WRITABLE : 0) | (dmabuf ? DMABUF : 0);
        areas.insert(iova, iova + length - 1, va, flags, pages, null);
        carve(iova, iova + length - 1);
        mappedBytes += length;
    }

    /** {@code iopt_check_iova} (§3.1 row 7b). */
    private void checkIova(long iova, long length) {
        Err.when((iova & (alignment - 1)) != 0, Err.EINVAL);
        Err.when(U64.addOverflows(iova, length - 1), Err.EOVERFLOW);
        long last = iova + length - 1;
        Err.when(reservedIntersects(iova, last), Err.EINVAL);
        Err.when(areas.firstIntersecting(iova, last) >= 0, Err.EEXIST);
    }

    /** {@code iopt_alloc_iova} (§3.2): the first fitting hole, with the kernel's alignment rules. */
    private long allocIova(long addr, long length) {
        Err.when(length == 0 || Long.compareUnsigned(length, MAX >>> 1) >= 0, Err.EOVERFLOW);
        long pageOffset = addr % PAGE_SIZE;
        long align = U64.roundupPow2(length);
        if (addr != 0) align = U64.min(align, Long.lowestOneBit(addr));
        if (!lt(align, U64.HPAGE_SIZE)) align = U64.HPAGE_SIZE;
        Err.when(lt(align, alignment), Err.EINVAL);
        for (long[] span : spans) {
            long spanStart = alignedStart(span[0], span[1], length, align, pageOffset);
            if (spanStart == -1) continue;
            for (long p = holes.firstIntersecting(spanStart, span[1]); p >= 0 && le(holes.start(p), span[1]);
                    p = holes.next(p)) {
                long start = U64.max(holes.start(p), spanStart), last = U64.min(holes.last(p), span[1]);
                if (lt(last - start, length - 1)) continue;
                long candidate = alignedStart(start, last, length, align, pageOffset);
                if (candidate != -1) return candidate;
            }
        }
        throw new Fail(Err.ENOSPC);
    }

    /**
     * {@code __alloc_iova_check_range}: ALIGN_UP(start) | page_offset if {@code length} fits before
     * {@code last}, else -1 (never a valid candidate: the window ends below it).
     */
    private static long alignedStart(long start, long last, long length, long align, long pageOffset) {
        if (U64.addOverflows(start, align - 1)) return -1;
        long aligned = ((start + align - 1) & -align) | pageOffset;
        if (!lt(aligned, last) || lt(last - aligned, length - 1)) return -1;
        return aligned;
    }

    /** The allowed ranges clipped to the allocation window, adjacent or overlapping ones merged. */
    private long[][] allowedSpans() {
        List<long[]> out = new ArrayList<>();
        for (long[] a : allowed) {
            long s = U64.max(a[0], PAGE_SIZE), l = U64.min(a[1], MAX - PAGE_SIZE);
            if (lt(l, s)) continue;
            long[] prev = out.isEmpty() ? null : out.get(out.size() - 1);
            if (prev != null && le(s, prev[1] + 1) && prev[1] != MAX) prev[1] = U64.max(prev[1], l);
            else out.add(new long[] {s, l});
        }
        return out.toArray(new long[0][]);
    }

    /**
     * IOAS_UNMAP's rule on top of {@link #unmapRange}: nothing removed → ENOENT. Returns the bytes
     * removed.
     */
    long unmap(long start, long last) {
        unmapRange(start, last);
        Err.when(unmapped == 0, Err.ENOENT);
        return unmapped;
    }

    /** The bytes the last {@link #unmapRange} removed, also when it failed part way. */
    long unmapped;

    /**
     * {@code iopt_unmap_iova_range} (§3.3): removes the whole areas inside {@code [start, last]} in
     * ascending order, counting their bytes in {@link #unmapped}. Not atomic: an area sticking out
     * of the range fails with ENOENT after the earlier ones are gone. Removing nothing succeeds.
     */
    void unmapRange(long start, long last) {
        unmapped = 0;
        for (;;) {
            long p = areas.firstIntersecting(start, last);
            if (p < 0) break;
            long first = areas.start(p), areaLast = areas.last(p);
            Err.when(!locks.isEmpty() && locks.containsKey(first), Err.EBUSY); // 7.3: locked by a HW queue, checked first (no boxing without locks)
            Err.when(lt(first, start) || lt(last, areaLast), Err.ENOENT);
            // Accesses pinning the area are told first; the mock unpins (§3.3, §6.2).
            for (int i = 0; i < accesses.size(); i++) accesses.get(i).unmapNotify(first, areaLast);
            areas.remove(p);
            tlb.invalidate(first, areaLast);
            mappedBytes -= areaLast - first + 1;
            release(first, areaLast);
            for (int i = 0; i < domains.size(); i++) domains.get(i).clearDirty(first, areaLast);
            unmapped += areaLast - first + 1;
            if (!lt(areaLast, last)) break; // areas are disjoint: none further starts inside the range
        }
    }

    /**
     * {@code iopt_cut_iova} at one IOVA ({@code iopt_area_split}, VFIO TYPE1 unmap): the area
     * holding {@code iova} is split in two so that {@code iova} is the last byte of the first
     * part; both parts keep the pages object. Nothing happens when no area holds it or it is the
     * area's first or last byte.
     */
    void cut(long iova) {
        long p = areas.find(iova);
        if (p < 0) return;
        long first = areas.start(p), last = areas.last(p), va = areas.data(p);
        if (iova == first || iova == last) return;
        long newStart = iova + 1, mask = alignment - 1;
        // the new area's IOVA and its offset in the pages (page-aligned at the pages' start)
        Err.when((newStart & mask) != 0 || ((va + (newStart - first)) & mask) != 0, Err.EINVAL);
        Err.when(pinned(first, last), Err.EINVAL); // an access pins it (or a 7.3 HW queue locks it)
        Err.when(!domains.isEmpty() && !hugePagesDisabled, Err.EINVAL); // a domain may hold huge IOPTEs
        int flags = areas.flags(p), pages = areas.tag(p);
        areas.remove(p);
        tlb.invalidate(first, last); // the halves translate as before; dropped all the same
        areas.insert(first, iova, va, flags, pages, null);
        areas.insert(newStart, last, va + (newStart - first), flags, pages, null);
    }

    /** Whether an access has pages of the area {@code [first, last]} pinned (its {@code num_accesses}). */
    private boolean pinned(long first, long last) {
        if (locks.containsKey(first)) return true;
        for (int i = 0; i < accesses.size(); i++) {
            for (SwAccess.Item item : accesses.get(i).items) {
                if (intersects(item.iova(), item.iova() + item.length() - 1, first, last)) return true;
            }
        }
        return false;
    }

    /** Areas locked by HW queues (7.3), by first IOVA: the lock count. */
    private final java.util.Map<Long, Integer> locks = new java.util.HashMap<>();

    /** Locks every area intersecting {@code [start, last]} against unmap (7.3 HW queue). */
    void lock(long start, long last) {
        for (long p = areas.firstIntersecting(start, last); p >= 0 && !lt(last, areas.start(p)); p = areas.next(p)) {
            locks.merge(areas.start(p), 1, Integer::sum);
        }
    }

    void unlock(long start, long last) {
        for (long p = areas.firstIntersecting(start, last); p >= 0 && !lt(last, areas.start(p)); p = areas.next(p)) {
            locks.computeIfPresent(areas.start(p), (k, n) -> n == 1 ? null : n - 1);
        }
    }

    /** Visits every area in IOVA order. */
    void forEachArea(AreaVisitor v) {
        for (long p = areas.first(); p >= 0; p = areas.next(p)) {
            v.visit(areas.start(p), areas.last(p), areas.data(p), areas.tag(p), areas.flags(p));
        }
    }

    interface AreaVisitor {
        void visit(long iova, long last, long va, int pages, int flags);
    }

    // ---- reserved and allowed ranges ----

    /** {@code iopt_reserve_iova} (§3.6): EADDRINUSE over an area or an allowed range. */
    void reserve(long start, long last, Object owner) {
        Err.when(areas.firstIntersecting(start, last) >= 0, Err.EADDRINUSE);
        for (long[] a : allowed) Err.when(intersects(a[0], a[1], start, last), Err.EADDRINUSE);
        reserved.add(new Reserved(start, last, owner));
        carve(start, last);
    }

    /** Drops the ranges an owner reserved. */
    void unreserve(Object owner) {
        List<Reserved> gone = new ArrayList<>();
        reserved.removeIf(r -> r.owner == owner && gone.add(r));
        for (Reserved r : gone) release(r.start, r.last);
    }

    /** {@code iopt_set_allow_iova}: replaces the allowed list unless it touches a reserved range. */
    void setAllowed(long[][] ranges) {
        for (long[] a : ranges) {
            for (Reserved r : reserved) Err.when(intersects(r.start, r.last, a[0], a[1]), Err.EADDRINUSE);
        }
        allowed = ranges;
        spans = ranges.length == 0 ? new long[][] {{PAGE_SIZE, MAX - PAGE_SIZE}} : allowedSpans();
    }

    /** The IOVA ranges IOVA_RANGES reports: the holes of the reserved ranges alone (§3.5). */
    List<long[]> usableRanges() {
        List<Reserved> sorted = new ArrayList<>(reserved);
        sorted.sort((a, b) -> Long.compareUnsigned(a.start, b.start));
        List<long[]> out = new ArrayList<>();
        long next = 0;
        boolean done = false;
        for (Reserved r : sorted) {
            if (done) break;
            if (lt(next, r.start)) out.add(new long[] {next, r.start - 1});
            if (!lt(r.last, next)) {
                if (r.last == MAX) done = true;
                else next = r.last + 1;
            }
        }
        if (!done) out.add(new long[] {next, MAX});
        return out;
    }

    /** Marks {@code [start, last]} used: removes it from the holes (a hole's remaining part is kept in place). */
    private void carve(long start, long last) {
        for (long p; (p = holes.firstIntersecting(start, last)) >= 0; ) {
            long hs = holes.start(p), hl = holes.last(p);
            // A hole reaching past last is the last one the range meets (holes are disjoint).
            if (lt(hs, start)) {
                holes.setLast(p, start - 1);
                if (lt(last, hl)) {
                    holes.insert(last + 1, hl, 0, 0, 0, null);
                    return;
                }
            } else if (lt(last, hl)) {
                holes.setStart(p, last + 1);
                return;
            } else {
                holes.remove(p);
            }
        }
    }

    /** {@code [start, last]} is no longer used by what covered it: the parts no reserved range covers become holes. */
    private void release(long start, long last) {
        if (!reservedIntersects(start, last)) {
            addHole(start, last);
            return;
        }
        List<Reserved> cover = new ArrayList<>();
        for (Reserved r : reserved) if (intersects(r.start, r.last, start, last)) cover.add(r);
        cover.sort((a, b) -> Long.compareUnsigned(a.start, b.start));
        long next = start;
        for (Reserved r : cover) {
            if (lt(next, r.start)) addHole(next, r.start - 1);
            if (r.last == MAX || !lt(r.last, last)) return;
            if (!lt(r.last, next)) next = r.last + 1;
        }
        addHole(next, last);
    }

    private boolean reservedIntersects(long start, long last) {
        for (int i = 0; i < reserved.size(); i++) {
            Reserved r = reserved.get(i);
            if (intersects(r.start, r.last, start, last)) return true;
        }
        return false;
    }

    /** Adds a free range, merged with the holes touching it (grown in place where one does). */
    private void addHole(long start, long last) {
        long before = start != 0 ? holes.find(start - 1) : -1, after = last != MAX ? holes.find(last + 1) : -1;
        if (before >= 0 && after >= 0) {
            holes.setLast(before, holes.last(after)); // both positions hold until the removal
            holes.remove(after);
        } else if (before >= 0) {
            holes.setLast(before, last);
        } else if (after >= 0) {
            holes.setStart(after, start);
        } else {
            holes.insert(start, last, 0, 0, 0, null);
        }
    }

    // ---- alignment, domains, accesses ----

    /** {@code iopt_check_iova_alignment}: EADDRINUSE if an area is misaligned for {@code align}. */
    private void checkAlignment(long align) {
        long mask = align - 1;
        for (long p = areas.first(); p >= 0; p = areas.next(p)) {
            long length = areas.last(p) - areas.start(p) + 1;
            Err.when((areas.start(p) & mask) != 0 || (length & mask) != 0
                    || ((areas.data(p) % PAGE_SIZE) & mask) != 0, Err.EADDRINUSE);
        }
    }

    /** {@code iopt_calculate_iova_alignment}: recomputes it; raising it over misaligned areas → EADDRINUSE. */
    void recalculateAlignment() {
        long align = hugePagesDisabled ? PAGE_SIZE : 1;
        for (SwHwpt d : domains) align = Math.max(align, d.minPage);
        for (SwAccess a : accesses) align = Math.max(align, a.alignment());
        if (align > alignment) checkAlignment(align);
        alignment = align;
    }

    /**
     * {@code iopt_table_add_domain} (§3.6, §4.2): raises the alignment, reserves the aperture's
     * complement and pins every area. All or nothing.
     */
    void addDomain(SwHwpt d) {
        long align = Math.max(alignment, d.minPage);
        Err.when(align > PAGE_SIZE, Err.EINVAL);
        if (align != alignment) checkAlignment(align);
        try {
            if (d.apertureStart != 0) reserve(0, d.apertureStart - 1, d);
            if (d.apertureLast != MAX) reserve(d.apertureLast + 1, MAX, d);
            for (long p = areas.first(); p >= 0; p = areas.next(p)) {
                Err.when(!pinnable(p), Err.EFAULT);
                Err.when(!d.maps(areas.flags(p)), Err.EINVAL);
            }
        } catch (Fail f) {
            unreserve(d);
            throw f;
        }
        alignment = align;
        domains.add(d);
    }

    /** Whether area {@code p}'s user pages could be pinned now (with FOLL_WRITE if its pages object is writable). */
    boolean pinnable(long p) {
        return memory.pinnable(areas.data(p), areas.last(p) - areas.start(p) + 1, (areas.flags(p) & PAGES_WRITABLE) != 0);
    }

    void removeDomain(SwHwpt d) {
        domains.remove(d);
        unreserve(d);
        recalculateAlignment();
    }

    /** {@code iopt_add_access}: EADDRINUSE if the access raises the alignment over misaligned areas. */
    void addAccess(SwAccess a) {
        accesses.add(a);
        try {
            recalculateAlignment();
        } catch (Fail f) {
            accesses.remove(a);
            throw f;
        }
    }

    void removeAccess(SwAccess a) {
        accesses.remove(a);
        recalculateAlignment();
    }

    /** Destruction: every area goes (nothing can hold the IOAS any more, §2.4). */
    void destroy() {
        areas.clear();
        tlb.clear();
        mappedBytes = 0;
    }
}
