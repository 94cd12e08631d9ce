package io.github.iommufd4j.reliability;

import io.github.iommufd4j.Access;
import io.github.iommufd4j.Backend;
import io.github.iommufd4j.FaultQueue;
import io.github.iommufd4j.HwPagetable;
import io.github.iommufd4j.HwptFlag;
import io.github.iommufd4j.Ioas;
import io.github.iommufd4j.Iommufd;
import io.github.iommufd4j.IommufdException;
import io.github.iommufd4j.IovaRange;
import io.github.iommufd4j.MockAccess;
import io.github.iommufd4j.MockDevice;
import io.github.iommufd4j.MockDriver;
import io.github.iommufd4j.PageFaults;
import io.github.iommufd4j.PageResponses;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Differential fuzzing over the typed API: random operation sequences, with edge values (0,
 * unaligned, overlapping, huge, wrapping), applied to two iommufds (the kernel's and the
 * software backend's, in the guest) op by op, comparing every result, id and errno. A divergence
 * is shrunk to a short sequence that still diverges and reported as a reproducer.
 *
 * <p>Operations name handles by index into the handles made so far (modulo their number), so a
 * sequence stays meaningful when the shrinker drops operations.
 */
public final class DiffFuzzer {
    static final long PAGE = 4096, MB = 1 << 20;
    /** User memory shared by both iommufds (the same addresses give the same kernel IOVA choices). */
    private final Arena arena = Arena.ofShared();
    private final MemorySegment memory = arena.allocate(8 * MB, 2 * MB);
    private final MemorySegment pattern = arena.allocate(64 * 1024, PAGE);
    private final Supplier<Iommufd> left, right;

    public DiffFuzzer(Supplier<Iommufd> left, Supplier<Iommufd> right) {
        this.left = left;
        this.right = right;
        memory.fill((byte) 0x5a);
        for (int i = 0; i < pattern.byteSize(); i++) pattern.set(JAVA_BYTE, i, (byte) (i * 31 + 7));
    }

    enum Kind {
        ALLOC_IOAS, MAP, MAP_FIXED, UNMAP, UNMAP_MAPPED, UNMAP_ALL, COPY, ALLOW_IOVAS, IOVA_RANGES, ADD_RESERVED,
        HUGE_PAGES, MOCK_DEVICE, MOCK_DEVICE_RAW, REPLACE, HWPT_ALLOC, HWPT_NESTED, FAULT_QUEUE, TRIGGER, READ_RESPOND,
        ACCESS, ACCESS_RW, ACCESS_PIN, DESTROY, CLOSE, HW_INFO, CHECK_MAP
    }

    /** One operation; its fields are interpreted by {@link World#apply}. */
    public record Op(Kind kind, int h1, int h2, int flags, long a, long b, long c) {
        @Override
        public String toString() {
            return kind + "(h1=" + h1 + ", h2=" + h2 + ", flags=0x" + Integer.toHexString(flags) + ", a=0x" + Long.toHexString(a)
                    + ", b=0x" + Long.toHexString(b) + ", c=0x" + Long.toHexString(c) + ")";
        }
    }

    // ---- generation ----

    private static final long[] IOVAS = {0, 0x800, 0x1000, 0x2000, 0x100000, 0x1000000, 0x1000800, 0x7fffffffL, 0x7ffff000L,
            0x80000000L, 1L << 63, -PAGE, -1L, 0x123, -2 * MB};
    private static final long[] LENGTHS = {0, 1, 0x800, 0x1000, 0x1001, 0x2000, 0x3000, MB, 2 * MB, -1L, 1L << 63, -PAGE, 0x7fffffffL};

    static long edge(Random r, long[] values) {
        return switch (r.nextInt(4)) {
            case 0 -> r.nextInt(64) * PAGE;                                 // a page inside the usual window
            case 1 -> 0x1000000 + r.nextInt(64) * 0x800L;                   // the mock aperture, 2 KiB steps
            default -> values[r.nextInt(values.length)];
        };
    }

    /** Kinds by weight: more of what builds on earlier state, fewer of what tears it down. */
    private static final Kind[] KINDS;

    static {
        List<Kind> w = new ArrayList<>();
        for (Kind k : Kind.values()) {
            int n = switch (k) {
                case MAP, MAP_FIXED, COPY, ACCESS_RW -> 3;
                case ACCESS_PIN, CHECK_MAP, TRIGGER, READ_RESPOND, MOCK_DEVICE, UNMAP_MAPPED -> 2;
                default -> 1;
            };
            for (int i = 0; i < n; i++) w.add(k);
        }
        KINDS = w.toArray(Kind[]::new);
    }

    public static List<Op> generate(Random r, int n) {
        List<Op> ops = new ArrayList<>(n);
        ops.add(new Op(Kind.ALLOC_IOAS, 0, 0, 0, 0, 0, 0));
        while (ops.size() < n) {
            Kind k = KINDS[r.nextInt(KINDS.length)];
            // Segments: offset and size inside the shared memory, some unaligned or empty.
            long off = switch (r.nextInt(4)) {
                case 0 -> 0;
                case 1 -> r.nextInt(1024) * PAGE % (6 * MB);
                case 2 -> 0x800;
                default -> r.nextInt(0x1000);
            };
            long size = switch (r.nextInt(6)) {
                case 0 -> 0;
                case 1 -> 0x800 * (1 + r.nextInt(4));
                case 2 -> PAGE * (1 + r.nextInt(8));
                case 3 -> MB;
                case 4 -> 1 + r.nextInt(0x3000);
                default -> 2 * MB;
            };
            int flags = r.nextInt(1 << 10);
            ops.add(switch (k) {
                case MAP, MAP_FIXED -> new Op(k, r.nextInt(8), 0, flags, off, size, edge(r, IOVAS));
                case UNMAP, COPY, ADD_RESERVED, ACCESS_RW, ACCESS_PIN, CHECK_MAP ->
                        new Op(k, r.nextInt(8), r.nextInt(8), flags, edge(r, IOVAS), edge(r, LENGTHS), edge(r, IOVAS));
                case ALLOW_IOVAS -> new Op(k, r.nextInt(8), r.nextInt(3), flags, edge(r, IOVAS), edge(r, IOVAS), edge(r, IOVAS));
                case DESTROY, REPLACE, MOCK_DEVICE_RAW, HW_INFO -> new Op(k, r.nextInt(8), r.nextInt(20), flags, 0, 0, 0);
                default -> new Op(k, r.nextInt(8), r.nextInt(8), flags, r.nextInt(4), r.nextInt(0x200), edge(r, IOVAS));
            });
        }
        return ops;
    }

    // ---- one side ----

    final class World implements AutoCloseable {
        final Iommufd fd;
        final List<Ioas> ioases = new ArrayList<>();
        final List<HwPagetable> hwpts = new ArrayList<>();
        final List<MockDevice> devices = new ArrayList<>();
        final List<FaultQueue> queues = new ArrayList<>();
        final List<MockAccess> accesses = new ArrayList<>();
        /** Successful maps (and copies), so later operations can aim at what is mapped. */
        final List<Mapping> mapped = new ArrayList<>();
        final java.util.Map<MockAccess, Ioas> accessIoas = new java.util.HashMap<>();
        final java.util.Map<MockDevice, Ioas> deviceIoas = new java.util.HashMap<>();
        final List<Integer> pins = new ArrayList<>();
        final PageFaults faults = new PageFaults(16);
        final PageResponses answers = new PageResponses(16);
        final MemorySegment readBack = arena.allocate(64 * 1024, PAGE);

        World(Iommufd fd) {
            this.fd = fd;
        }

        record Mapping(Ioas ioas, long iova, MemorySegment memory) {}

        /** One of the last three mappings made in this IOAS (the likeliest to be still there), or null. */
        Mapping mappingIn(Ioas ioas, int i) {
            List<Mapping> in = mapped.stream().filter(m -> m.ioas == ioas).toList();
            return in.isEmpty() ? null : in.get(in.size() - 1 - i % Math.min(3, in.size()));
        }

        <T> T pick(List<T> l, int i) {
            return l.isEmpty() ? null : l.get(i % l.size());
        }

        /** The operation's result as text: values and ids, or the errno. */
        String apply(Op op) {
            try {
                String r = run(op);
                return r == null ? "skip" : r;
            } catch (IommufdException e) {
                return e.errnoName();
            } catch (RuntimeException e) {
                // The API's own argument checks; compared like any result (an Error is a crash and propagates).
                return "threw " + e.getClass().getSimpleName();
            }
        }

        private MemorySegment segment(Op op) {
            long off = Math.min(op.a, memory.byteSize()), size = Math.min(op.b, memory.byteSize() - off);
            return memory.asSlice(off, size);
        }

        private Access access(int flags) {
            return Access.values()[Math.floorMod(flags, 3)];
        }

        private String run(Op op) throws IommufdException {
            Ioas ioas = pick(ioases, op.h1);
            switch (op.kind) {
                case ALLOC_IOAS -> {
                    Ioas i = fd.allocIoas();
                    ioases.add(i);
                    return "ioas " + i.id();
                }
                case MAP, MAP_FIXED -> {
                    if (ioas == null) return null;
                    MemorySegment s = segment(op);
                    long iova = op.c;
                    if (op.kind == Kind.MAP) iova = ioas.map(s, access(op.flags));
                    else ioas.map(s, iova, access(op.flags));
                    mapped.add(new Mapping(ioas, iova, s));
                    return "iova 0x" + Long.toHexString(iova);
                }
                case UNMAP -> {
                    if (ioas == null) return null;
                    return "unmapped 0x" + Long.toHexString(ioas.unmap(op.a, op.b));
                }
                case UNMAP_MAPPED -> {
                    // Around a mapping made earlier: exact, from inside, or overlapping its ends.
                    Mapping m = mappingIn(ioas, op.h2);
                    if (m == null) return null;
                    long start = m.iova + (op.flags % 3 - 1) * ((op.flags & 0x40) != 0 ? PAGE : 0x800);
                    long length = (op.flags & 0x80) != 0 ? m.memory.byteSize() : op.b * 0x800;
                    return "unmapped 0x" + Long.toHexString(ioas.unmap(start, length));
                }
                case UNMAP_ALL -> {
                    if (ioas == null) return null;
                    return "unmapped 0x" + Long.toHexString(ioas.unmapAll());
                }
                case COPY -> {
                    Ioas dst = pick(ioases, op.h2);
                    if (ioas == null || dst == null) return null;
                    Mapping m = mappingIn(ioas, op.flags >> 2);
                    // Mostly from a mapping (whole, or a part at an offset), sometimes edge values.
                    boolean aim = (op.flags & 1) != 0 && m != null;
                    long src = aim ? m.iova + ((op.flags & 0x40) != 0 ? 0x800 : 0) : op.a;
                    long length = aim ? ((op.flags & 2) != 0 ? m.memory.byteSize() : PAGE * (1 + (op.flags >> 6 & 3))) : op.b;
                    boolean fixed = (op.flags & 0x100) != 0;
                    long at = op.c;
                    if (fixed) ioas.copyTo(dst, src, length, at, access(op.flags >> 4));
                    else at = ioas.copyTo(dst, src, length, access(op.flags >> 4));
                    if (aim && src - m.iova + length <= m.memory.byteSize()) {
                        mapped.add(new Mapping(dst, at, m.memory.asSlice(src - m.iova, length)));
                    }
                    return fixed ? "copied" : "copied to 0x" + Long.toHexString(at);
                }
                case ALLOW_IOVAS -> {
                    if (ioas == null) return null;
                    List<IovaRange> ranges = new ArrayList<>();
                    long[] ends = {op.a, op.b, op.c, op.c + MB};
                    for (int i = 0; i < op.h2; i++) {
                        long s = ends[2 * i], l = ends[2 * i + 1];
                        ranges.add((op.flags & (1 << i)) != 0 ? new IovaRange(s, s + PAGE * (1 + (op.flags >> 4) % 64) - 1) : new IovaRange(s, l));
                    }
                    ioas.allowIovas(ranges);
                    return "allowed";
                }
                case IOVA_RANGES -> {
                    if (ioas == null) return null;
                    Ioas.IovaRanges r = ioas.iovaRanges();
                    return r.ranges() + " align " + r.alignment();
                }
                case ADD_RESERVED -> {
                    if (ioas == null) return null;
                    fd.mock().addReserved(ioas, op.a, op.b);
                    return "reserved";
                }
                case HUGE_PAGES -> {
                    if (ioas == null) return null;
                    if ((op.flags & 1) != 0) ioas.setHugePages((op.flags & 2) != 0);
                    return "huge " + ioas.hugePages();
                }
                case MOCK_DEVICE -> {
                    HwPagetable h = (op.flags & 1) != 0 ? pick(hwpts, op.h2) : null;
                    MockDevice d;
                    if (h != null) d = fd.mock().addDevice(h);
                    else if (ioas != null) d = fd.mock().addDevice(ioas);
                    else return null;
                    if (h == null) deviceIoas.put(d, ioas);
                    devices.add(d);
                    return "stdev " + d.stdevId() + " dev " + d.deviceId() + " hwpt " + d.hwptId();
                }
                case MOCK_DEVICE_RAW -> {
                    int devFlags = new int[] {0, MockDriver.DEVICE_NO_DIRTY, MockDriver.DEVICE_PASID}[op.flags % 3];
                    MockDevice d = fd.mock().addDevice(op.h2, devFlags);
                    devices.add(d);
                    return "stdev " + d.stdevId() + " dev " + d.deviceId() + " hwpt " + d.hwptId();
                }
                case REPLACE -> {
                    MockDevice d = pick(devices, op.h1);
                    if (d == null) return null;
                    return "hwpt " + d.replace(op.h2);
                }
                case HWPT_ALLOC -> {
                    MockDevice d = pick(devices, op.h2);
                    if (ioas == null || d == null) return null;
                    FaultQueue q = (op.flags & 4) != 0 ? pick(queues, op.flags >> 4) : null;
                    List<HwptFlag> f = new ArrayList<>();
                    if ((op.flags & 1) != 0) f.add(HwptFlag.NEST_PARENT);
                    if ((op.flags & 2) != 0) f.add(HwptFlag.DIRTY_TRACKING);
                    if ((op.flags & 8) != 0) f.add(HwptFlag.PASID);
                    HwPagetable h = fd.allocHwpt(d.deviceId(), ioas, q, f.toArray(HwptFlag[]::new));
                    hwpts.add(h);
                    return "hwpt " + h.id();
                }
                case HWPT_NESTED -> {
                    MockDevice d = pick(devices, op.h2);
                    HwPagetable parent = pick(hwpts, op.h1);
                    if (parent == null || d == null) return null;
                    FaultQueue q = (op.flags & 4) != 0 ? pick(queues, op.flags >> 4) : null;
                    try (Arena a = Arena.ofConfined()) {
                        HwPagetable h = fd.allocNestedHwpt(d.deviceId(), parent, MockDriver.HWPT_DATA_SELFTEST,
                                MockDriver.selftestData(a, (int) op.b), q);
                        hwpts.add(h);
                        return "hwpt " + h.id();
                    }
                }
                case FAULT_QUEUE -> {
                    FaultQueue q = fd.allocFaultQueue();
                    queues.add(q);
                    return "fault " + q.id();
                }
                case TRIGGER -> {
                    MockDevice d = pick(devices, op.h1);
                    if (d == null) return null;
                    d.triggerPageFault((int) op.a, (int) op.b, op.flags & 3, op.c);
                    return "triggered";
                }
                case READ_RESPOND -> {
                    FaultQueue q = pick(queues, op.h1);
                    if (q == null) return null;
                    int n = q.read(faults);
                    StringBuilder sb = new StringBuilder("read " + n);
                    for (int i = 0; i < n; i++) {
                        sb.append(" [").append(faults.toString(i)).append(']');
                        if ((op.flags & (1 << i)) == 0) answers.add(faults.cookie(i), op.flags >> 8 & 1);
                    }
                    // Sometimes a stale or unknown cookie, or an invalid code.
                    if ((op.flags & 0x200) != 0) answers.add((int) op.b, (int) (op.a % 3));
                    try {
                        sb.append(" answered ").append(q.respond(answers));
                    } finally {
                        answers.clear();
                    }
                    return sb.toString();
                }
                case ACCESS -> {
                    if (ioas == null) return null;
                    MockAccess a = fd.mock().createAccess(ioas, (op.flags & 1) != 0);
                    accesses.add(a);
                    accessIoas.put(a, ioas);
                    return "access";
                }
                case ACCESS_RW -> {
                    MockAccess a = pick(accesses, op.h1);
                    if (a == null) return null;
                    long len = Math.min(op.b == 0 ? 0 : 1 + Math.floorMod(op.b, pattern.byteSize()), pattern.byteSize());
                    Mapping m = mappingIn(accessIoas.get(a), op.h2);
                    long iova = (op.flags & 1) != 0 && m != null ? m.iova + (op.flags >> 4) : op.a;
                    if ((op.flags & 2) != 0) {
                        a.rw(iova, pattern.asSlice(0, len), true);
                        return "written";
                    }
                    MemorySegment into = readBack.asSlice(0, len);
                    into.fill((byte) 0);
                    a.rw(iova, into, false);
                    return "read " + java.util.Arrays.hashCode(into.toArray(JAVA_BYTE));
                }
                case ACCESS_PIN -> {
                    MockAccess a = pick(accesses, op.h1);
                    if (a == null) return null;
                    if ((op.flags & 1) != 0 && !pins.isEmpty()) {
                        a.unpin(pick(pins, op.h2));
                        return "unpinned";
                    }
                    Mapping m = mappingIn(accessIoas.get(a), op.h2);
                    boolean aim = (op.flags & 2) != 0 && m != null;
                    long iova = aim ? m.iova + ((op.flags & 8) != 0 ? PAGE : 0) : op.a;
                    int id = a.pin(iova, aim ? PAGE * (1 + (op.flags >> 4 & 3)) : op.b, (op.flags & 4) != 0);
                    pins.add(id);
                    return "pin " + id;
                }
                case DESTROY -> {
                    fd.destroy(op.h2);
                    return "destroyed";
                }
                case CLOSE -> {
                    List<? extends AutoCloseable> l = switch (op.flags % 5) {
                        case 0 -> ioases;
                        case 1 -> hwpts;
                        case 2 -> devices;
                        case 3 -> queues;
                        default -> accesses;
                    };
                    AutoCloseable h = pick(l, op.h1);
                    if (h == null) return null;
                    try {
                        h.close();
                    } catch (IommufdException e) {
                        throw e;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    return "closed";
                }
                case HW_INFO -> {
                    var info = fd.hwInfo(op.h2);
                    return info.toString();
                }
                case CHECK_MAP -> {
                    // A device's page table against what its IOAS maps (MD_CHECK_MAP reads the mock's PTEs).
                    MockDevice d = pick(devices, op.h1);
                    Mapping m = d == null ? null : (op.flags & 0x10) != 0 ? pick(mapped, op.h2) : mappingIn(deviceIoas.get(d), op.h2);
                    if (m == null) return null;
                    long len = Math.min(m.memory.byteSize(), PAGE * (1 + op.flags % 4));
                    fd.mock().checkMap(d.hwptId(), m.iova, m.memory.asSlice(0, len));
                    return "checked";
                }
            }
            throw new AssertionError(op.kind);
        }

        @Override
        public void close() {
            fd.close();
        }
    }

    // ---- comparison ----

    /** Per operation kind: how often each outcome (ok, an errno, or nothing to act on) came. */
    private final java.util.Map<Kind, java.util.Map<String, Integer>> outcomes = new java.util.EnumMap<>(Kind.class);

    private void count(Kind k, String result) {
        String o = result.equals("skip") ? "none" : result.matches("E[A-Z0-9]+") ? result : "ok";
        outcomes.computeIfAbsent(k, x -> new java.util.TreeMap<>()).merge(o, 1, Integer::sum);
    }

    /** Coverage: per kind, the count of each outcome. */
    public String outcomes() {
        return outcomes.toString();
    }

    /** Where two iommufds first disagreed. */
    public record Divergence(int index, Op op, String left, String right) {}

    /** Applies {@code ops} to fresh iommufds on both sides; the first disagreement, or null. */
    public Divergence compare(List<Op> ops) {
        try (World l = new World(left.get()); World r = new World(right.get())) {
            for (int i = 0; i < ops.size(); i++) {
                String a = l.apply(ops.get(i)), b = r.apply(ops.get(i));
                count(ops.get(i).kind, a);
                if (!a.equals(b)) return new Divergence(i, ops.get(i), a, b);
            }
            return null;
        }
    }

    /** Each operation with both results, one line each (for a reproducer). */
    public List<String> trace(List<Op> ops) {
        List<String> out = new ArrayList<>();
        try (World l = new World(left.get()); World r = new World(right.get())) {
            for (Op op : ops) {
                String a = l.apply(op), b = r.apply(op);
                out.add(op + " -> " + a + (a.equals(b) ? "" : "  <> " + b));
            }
        }
        return out;
    }

    /**
     * A shorter sequence that still diverges: drops chunks of operations (halving the chunk
     * size down to one) while some divergence remains, and ends the sequence at it.
     */
    public List<Op> shrink(List<Op> ops, int budget) {
        Divergence d = compare(ops);
        if (d == null) return ops;
        List<Op> cur = new ArrayList<>(ops.subList(0, d.index + 1));
        for (int chunk = Math.max(1, cur.size() / 2); chunk >= 1 && budget > 0; chunk /= 2) {
            for (int i = 0; i + chunk <= cur.size() && budget > 0; ) {
                List<Op> tryOps = new ArrayList<>(cur.subList(0, i));
                tryOps.addAll(cur.subList(i + chunk, cur.size()));
                budget--;
                Divergence t = tryOps.isEmpty() ? null : compare(tryOps);
                if (t != null) cur = new ArrayList<>(tryOps.subList(0, t.index + 1));
                else i += chunk;
            }
            if (chunk == 1) break;
        }
        return cur;
    }

    /** Native vs software (with the software backend behaving as the running kernel). */
    public static DiffFuzzer nativeVsSoftware() {
        String v = System.getProperty("os.version", "");
        System.setProperty("iommufd4j.software.kernel", v.startsWith("6.12") ? "6.12" : "7.3");
        return new DiffFuzzer(() -> open(Backend.NATIVE), () -> open(Backend.SOFTWARE));
    }

    static Iommufd open(Backend b) {
        try {
            return Iommufd.open(b);
        } catch (IommufdException e) {
            throw new IllegalStateException(e);
        }
    }

    public void close() {
        arena.close();
    }
}
