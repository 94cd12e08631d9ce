package io.github.iommufd4j.internal.software;

import io.github.iommufd4j.bindings.Errno;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static io.github.iommufd4j.internal.software.Raw.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Random map/unmap/copy/allow/reserve sequences on one IOAS (no domain) against a plain list of
 * areas implementing docs/kernel-behaviour.md §3.1-§3.6 the obvious way.
 */
class IoasModelPropertyTest {
    /** An area of the model: IOVA range, user VA, protection, whether its pages were mapped writable. */
    record Area(long start, long last, long va, boolean write, boolean pagesWritable) {}

    sealed interface Op permits MapFixed, MapAuto, Unmap, CopyOp, Allow, Reserve {}

    record MapFixed(int page, int pages, int vaPage, boolean write) implements Op {}

    record MapAuto(int pages, int vaPage, boolean write) implements Op {}

    record Unmap(int page, int pages) implements Op {}

    record CopyOp(int srcPage, int pages, int dstPage, boolean fixed, boolean write) implements Op {}

    record Allow(int page1, int pages1, int page2, int pages2, int count) implements Op {}

    record Reserve(int page, int pages) implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        var page = Arbitraries.integers().between(0, 63);
        var pages = Arbitraries.integers().between(1, 8);
        var bool = Arbitraries.of(true, false);
        Arbitrary<Op> op = Arbitraries.oneOf(
                net.jqwik.api.Combinators.combine(page, pages, page, bool).as(MapFixed::new),
                net.jqwik.api.Combinators.combine(pages, page, bool).as(MapAuto::new),
                net.jqwik.api.Combinators.combine(page, Arbitraries.integers().between(1, 24)).as(Unmap::new),
                net.jqwik.api.Combinators.combine(page, pages, page, bool, bool).as(CopyOp::new),
                net.jqwik.api.Combinators.combine(page, pages, page, pages, Arbitraries.integers().between(0, 2)).as(Allow::new),
                net.jqwik.api.Combinators.combine(page, Arbitraries.integers().between(1, 3)).as(Reserve::new));
        return op.list().ofMinSize(1).ofMaxSize(40);
    }

    @Property(tries = 300)
    void backendMatchesModel(@ForAll("ops") List<Op> ops) {
        try (Raw raw = new Raw()) {
            int ioas = raw.ioas();
            MemorySegment mem = raw.buffer(64 * PAGE);
            long base = mem.address();
            List<Area> areas = new ArrayList<>();
            List<long[]> allowed = new ArrayList<>(), reserved = new ArrayList<>();
            for (Op op : ops) {
                String expected, actual;
                switch (op) {
                    case MapFixed m -> {
                        long s = m.page() * PAGE, l = s + m.pages() * PAGE - 1;
                        expected = hits(reserved, s, l) ? "EINVAL" : overlaps(areas, s, l) ? "EEXIST" : "OK";
                        if (expected.equals("OK")) add(areas, new Area(s, l, base + m.vaPage() * PAGE, m.write(), m.write()));
                        actual = name(raw.map(ioas, (m.write() ? RW : R) | FIXED, base + m.vaPage() * PAGE, m.pages() * PAGE, s));
                    }
                    case MapAuto m -> {
                        long va = base + m.vaPage() * PAGE, len = m.pages() * PAGE;
                        long at = alloc(areas, allowed, reserved, va, len);
                        expected = at == -1 ? "ENOSPC" : "OK";
                        if (at != -1) add(areas, new Area(at, at + len - 1, va, m.write(), m.write()));
                        actual = name(raw.map(ioas, m.write() ? RW : R, va, len, 0));
                        if (at != -1 && actual.equals("OK")) assertEquals(at, raw.iova, "automatic IOVA");
                    }
                    case Unmap u -> {
                        long s = u.page() * PAGE, l = s + u.pages() * PAGE - 1, removed = 0;
                        expected = null;
                        for (Area a; (a = first(areas, s, l)) != null; ) {
                            if (a.start() < s || a.last() > l) {
                                expected = "ENOENT";
                                break;
                            }
                            areas.remove(a);
                            removed += a.last() - a.start() + 1;
                        }
                        if (expected == null) expected = removed == 0 ? "ENOENT" : "OK";
                        actual = name(raw.unmap(ioas, s, u.pages() * PAGE));
                        if (expected.equals("OK")) assertEquals(removed, raw.length);
                    }
                    case CopyOp c -> {
                        long s = c.srcPage() * PAGE, len = c.pages() * PAGE;
                        List<Area> pieces = pieces(areas, s, s + len - 1);
                        if (pieces == null) {
                            expected = "ENOENT";
                        } else {
                            long at = c.fixed() ? c.dstPage() * PAGE : alloc(areas, allowed, reserved, pieces.get(0).va(), len);
                            if (at == -1) expected = "ENOSPC";
                            else if (c.fixed() && hits(reserved, at, at + len - 1)) expected = "EINVAL";
                            else if (c.fixed() && overlaps(areas, at, at + len - 1)) expected = "EEXIST";
                            else if (c.write() && pieces.stream().anyMatch(p -> !p.pagesWritable())) expected = "EPERM";
                            else {
                                expected = "OK";
                                for (Area p : pieces) {
                                    long n = p.last() - p.start() + 1;
                                    add(areas, new Area(at, at + n - 1, p.va(), c.write(), p.pagesWritable()));
                                    at += n;
                                }
                            }
                        }
                        actual = name(raw.copy(ioas, ioas, (c.write() ? RW : R) | (c.fixed() ? FIXED : 0), s, len, c.dstPage() * PAGE));
                    }
                    case Allow a -> {
                        List<long[]> next = new ArrayList<>();
                        if (a.count() > 0) next.add(new long[] {a.page1() * PAGE, (a.page1() + a.pages1()) * PAGE - 1});
                        if (a.count() > 1) next.add(new long[] {a.page2() * PAGE, (a.page2() + a.pages2()) * PAGE - 1});
                        long[] flat = next.stream().flatMapToLong(java.util.Arrays::stream).toArray();
                        if (next.size() == 2 && intersects(next.get(0), next.get(1)[0], next.get(1)[1])) expected = "EINVAL";
                        else if (next.stream().anyMatch(r -> hits(reserved, r[0], r[1]))) expected = "EADDRINUSE";
                        else {
                            expected = "OK";
                            allowed = next;
                        }
                        actual = name(raw.allow(ioas, flat));
                    }
                    case Reserve r -> {
                        long s = r.page() * PAGE, l = s + r.pages() * PAGE - 1;
                        expected = overlaps(areas, s, l) || hits(allowed, s, l) ? "EADDRINUSE" : "OK";
                        if (expected.equals("OK")) reserved.add(new long[] {s, l});
                        actual = name(raw.addReserved(ioas, s, r.pages() * PAGE));
                    }
                }
                assertEquals(expected, actual, op.toString());
                verify(raw, ioas, areas);
            }
        }
    }

    /** Every model area translates as modelled; the gaps do not translate. */
    static void verify(Raw raw, int ioas, List<Area> areas) {
        long next = 0;
        for (Area a : areas) {
            if (a.start() > next) assertEquals(-1, raw.b.translate(ioas, next, false), "gap at " + next);
            assertEquals(a.va(), raw.b.translate(ioas, a.start(), false));
            assertEquals(a.va() + (a.last() - a.start()), raw.b.translate(ioas, a.last(), false));
            assertEquals(a.write() ? a.va() : -1, raw.b.translate(ioas, a.start(), true));
            next = a.last() + 1;
        }
        assertEquals(-1, raw.b.translate(ioas, next, false));
    }

    static String name(int rc) {
        return rc == 0 ? "OK" : Errno.name(-rc);
    }

    static void add(List<Area> areas, Area a) {
        areas.add(a);
        areas.sort(Comparator.comparingLong(Area::start));
    }

    static boolean intersects(long[] r, long s, long l) {
        return r[0] <= l && s <= r[1];
    }

    static boolean hits(List<long[]> ranges, long s, long l) {
        return ranges.stream().anyMatch(r -> intersects(r, s, l));
    }

    static boolean overlaps(List<Area> areas, long s, long l) {
        return first(areas, s, l) != null;
    }

    static Area first(List<Area> areas, long s, long l) {
        return areas.stream().filter(a -> a.start() <= l && s <= a.last()).findFirst().orElse(null);
    }

    /** The pieces of the areas covering [s, l] contiguously, or null. */
    static List<Area> pieces(List<Area> areas, long s, long l) {
        List<Area> out = new ArrayList<>();
        for (long cur = s; cur <= l; ) {
            long c = cur;
            Area a = areas.stream().filter(x -> x.start() <= c && c <= x.last()).findFirst().orElse(null);
            if (a == null) return null;
            long end = Math.min(l, a.last());
            out.add(new Area(cur, end, a.va() + (cur - a.start()), a.write(), a.pagesWritable()));
            cur = end + 1;
        }
        return out;
    }

    /**
     * docs/kernel-behaviour.md §3.2 the plain way: allowed spans (or the window), then the holes of
     * reserved ∪ areas, first fit.
     */
    static long alloc(List<Area> areas, List<long[]> allowed, List<long[]> reserved, long va, long len) {
        long align = Math.min(Long.highestOneBit(len) == len ? len : Long.highestOneBit(len) << 1, Long.lowestOneBit(va));
        align = Math.min(align, 2 * MB);
        List<long[]> spans = new ArrayList<>();
        if (allowed.isEmpty()) {
            spans.add(new long[] {PAGE, Long.MAX_VALUE});
        } else {
            List<long[]> sorted = new ArrayList<>(allowed);
            sorted.sort(Comparator.comparingLong(r -> r[0]));
            for (long[] r : sorted) {
                long s = Math.max(r[0], PAGE);
                if (s > r[1]) continue;
                long[] prev = spans.isEmpty() ? null : spans.get(spans.size() - 1);
                if (prev != null && s <= prev[1] + 1) prev[1] = Math.max(prev[1], r[1]);
                else spans.add(new long[] {s, r[1]});
            }
        }
        List<long[]> used = new ArrayList<>(reserved);
        for (Area a : areas) used.add(new long[] {a.start(), a.last()});
        used.sort(Comparator.comparingLong(r -> r[0]));
        for (long[] span : spans) {
            long start = fit(span[0], span[1], len, align);
            if (start == -1) continue;
            long holeStart = start;
            for (long[] u : used) {
                if (u[1] < holeStart) continue;
                if (u[0] > span[1]) break;
                if (u[0] > holeStart) {
                    long at = fit(holeStart, Math.min(u[0] - 1, span[1]), len, align);
                    if (at != -1) return at;
                }
                holeStart = Math.max(holeStart, u[1] + 1);
            }
            long at = fit(holeStart, span[1], len, align);
            if (at != -1) return at;
        }
        return -1;
    }

    static long fit(long start, long last, long len, long align) {
        long aligned = (start + align - 1) & -align;
        return aligned < last && last - aligned >= len - 1 ? aligned : -1;
    }
}
