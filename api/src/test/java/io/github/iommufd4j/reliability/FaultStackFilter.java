package io.github.iommufd4j.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;
import java.util.stream.Stream;

/**
 * Confines the kernel's fault injection to allocations made with a caller in one kernel text
 * range on the stack (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER): every fault attribute in debugfs
 * ({@code failslab}, {@code fail_page_alloc}, {@code fail_iommufd}, ...) gets {@code require-start},
 * {@code require-end}, {@code stacktrace-depth} and the reject range, and the previous values come
 * back on {@link #close()}. lib/fault-inject.c's should_fail_ex applies the filter to per-task fail-nth
 * too (6.12 and 7.3): an allocation without such a caller within the depth neither fails nor
 * counts, so {@link FailNth#arm(int) arm(n)} then fails the n-th allocation made on iommufd's behalf.
 *
 * <p>Why: VFIO_DEVICE_BIND_IOMMUFD also enables the PCI device; an allocation failure injected
 * there goes down vfio-pci's PCI enable / ACPI error path (AE_NO_MEMORY evaluating _PRT), after
 * which the 7.3 guest kernel oopses in acpi_ut_update_object_reference when the cdev is closed, a
 * kernel bug outside iommufd. Confined to iommufd's text, a sweep of the bind tests iommufd only.
 */
public final class FaultStackFilter implements AutoCloseable {
    private static final Path DEBUGFS = Path.of("/sys/kernel/debug");
    /** lib/fault-inject.c's MAX_STACK_TRACE_DEPTH, the largest depth it accepts. */
    public static final int MAX_DEPTH = 32;
    private static final String[] FILES = {"require-start", "require-end", "reject-start", "reject-end", "stacktrace-depth"};

    /** Previous contents per file, restored in reverse order. */
    private final SequencedMap<Path, String> saved;

    private FaultStackFilter(SequencedMap<Path, String> saved) {
        this.saved = saved;
    }

    /**
     * A text range {@code [start, end)} of the running kernel; {@code foreign} lists the symbols
     * inside it that do not look like the named code (for the test log: what else the filter admits).
     */
    public record TextRange(String name, long start, long end, int symbols, List<String> foreign) {
        @Override
        public String toString() {
            String r = String.format("%s text [%#x, %#x) (%d bytes", name, start, end, end - start);
            return symbols == 1 ? r + ")" : r + String.format(", %d symbols, %d not %s-like)", symbols, foreign.size(), name);
        }
    }

    /** Why the filter cannot be used here, or null when it can. */
    public static String unavailableReason() {
        if (!Files.exists(DEBUGFS.resolve("failslab/require-start"))) {
            return "no " + DEBUGFS.resolve("failslab/require-start") + " (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)";
        }
        return null;
    }

    /** The kernel's text symbols from /proc/kallsyms by address, and the main text [_stext, _etext). */
    private record Kallsyms(List<Sym> text, long stext, long etext) {
        record Sym(long addr, String name) {}

        static Kallsyms read() throws IOException {
            List<Sym> text = new ArrayList<>();
            long stext = -1, etext = -1;
            try (Stream<String> lines = Files.lines(Path.of("/proc/kallsyms"))) {
                for (String line : (Iterable<String>) lines::iterator) {
                    String[] f = line.split("\\s+");
                    if (f.length != 3) continue; // module symbols carry a 4th field
                    long addr = Long.parseUnsignedLong(f[0], 16);
                    if (f[2].equals("_stext")) stext = addr;
                    if (f[2].equals("_etext")) etext = addr;
                    if (f[1].equalsIgnoreCase("t")) text.add(new Sym(addr, f[2]));
                }
            }
            if (stext == -1 || etext == -1) throw new IOException("no _stext/_etext in /proc/kallsyms");
            if (stext == 0) throw new IOException("/proc/kallsyms shows no addresses (root? kernel.kptr_restrict < 2?)");
            text.sort((a, b) -> Long.compareUnsigned(a.addr, b.addr));
            return new Kallsyms(text, stext, etext);
        }

        boolean inMainText(Sym s) {
            return Long.compareUnsigned(s.addr, stext) >= 0 && Long.compareUnsigned(s.addr, etext) < 0;
        }

        /** The address of the first text symbol above {@code addr}: where the code at addr ends. */
        long next(long addr) throws IOException {
            for (Sym s : text) if (Long.compareUnsigned(s.addr, addr) > 0) return s.addr;
            throw new IOException(String.format("no text symbol after %#x", addr));
        }
    }

    /**
     * iommufd's text from /proc/kallsyms (root; readable addresses need kptr_restrict 0 or 1): from
     * the lowest to just past the highest text symbol named {@code iommufd_*}. iommufd is built in
     * and the objects of drivers/iommu/iommufd are linked together, so that range is its code.
     * Only the main text {@code [_stext, _etext)} counts: {@code .cold} parts (gcc moves them to
     * .text.unlikely) and the init and exit functions (after _etext) lie far away.
     */
    public static TextRange iommufdText() throws IOException {
        Kallsyms k = Kallsyms.read();
        long lo = -1, hi = 0;
        for (Kallsyms.Sym s : k.text) {
            if (!s.name().startsWith("iommufd_") || s.name().contains(".cold") || !k.inMainText(s)) continue;
            if (lo == -1 || Long.compareUnsigned(s.addr(), lo) < 0) lo = s.addr();
            if (Long.compareUnsigned(s.addr(), hi) > 0) hi = s.addr();
        }
        if (lo == -1) throw new IOException("no iommufd_* text symbol in /proc/kallsyms (CONFIG_IOMMUFD=y?)");
        long end = k.next(hi);
        int count = 0;
        List<String> foreign = new ArrayList<>();
        for (Kallsyms.Sym s : k.text) {
            if (Long.compareUnsigned(s.addr(), lo) < 0 || Long.compareUnsigned(s.addr(), end) >= 0) continue;
            count++;
            String bare = s.name().startsWith("__pfx_") ? s.name().substring(6) : s.name();
            if (!bare.matches("(iommufd|iopt|iova|_iommufd|__iommufd)_.*")) foreign.add(s.name());
        }
        if (end - lo > 1 << 20) throw new IOException(String.format("iommufd text [%#x, %#x) is implausibly large", lo, end));
        return new TextRange("iommufd", lo, end, count, List.copyOf(foreign));
    }

    /** One function's text from /proc/kallsyms: its address up to the next symbol's. */
    public static TextRange function(String name) throws IOException {
        Kallsyms k = Kallsyms.read();
        for (Kallsyms.Sym s : k.text) {
            if (s.name().equals(name) && k.inMainText(s)) return new TextRange(name, s.addr(), k.next(s.addr()), 1, List.of());
        }
        throw new IOException("no text symbol " + name + " in /proc/kallsyms (inlined in this kernel?)");
    }

    /** Confines every fault attribute's injection to allocations with a caller in {@code range}. */
    public static FaultStackFilter confine(TextRange range) throws IOException {
        return confine(range, null);
    }

    /**
     * The same, except allocations with a caller in {@code reject} (if not null), which then neither
     * fail nor count (reject-start, reject-end: a path the kernel requires to succeed, say).
     */
    public static FaultStackFilter confine(TextRange range, TextRange reject) throws IOException {
        List<Path> dirs;
        try (Stream<Path> s = Files.list(DEBUGFS)) {
            dirs = s.filter(d -> Files.isRegularFile(d.resolve("require-start"))).sorted().toList();
        }
        if (dirs.isEmpty()) throw new IOException(unavailableReason());
        SequencedMap<Path, String> saved = new LinkedHashMap<>();
        FaultStackFilter filter = new FaultStackFilter(saved);
        try {
            for (Path d : dirs) {
                for (String f : FILES) saved.put(d.resolve(f), Files.readString(d.resolve(f)).trim());
                write(d, "require-end", range.end());
                write(d, "require-start", range.start());
                write(d, "reject-end", reject == null ? 0 : reject.end());
                write(d, "reject-start", reject == null ? 0 : reject.start());
                Files.writeString(d.resolve("stacktrace-depth"), Integer.toString(MAX_DEPTH));
            }
        } catch (IOException | RuntimeException e) {
            filter.close();
            throw e;
        }
        return filter;
    }

    private static void write(Path dir, String file, long address) throws IOException {
        Files.writeString(dir.resolve(file), "0x" + Long.toHexString(address));
    }

    /** Restores the previous values (by default: no ranges, depth 32). */
    @Override
    public void close() throws IOException {
        IOException first = null;
        for (Map.Entry<Path, String> e : saved.sequencedEntrySet().reversed()) {
            try {
                Files.writeString(e.getKey(), e.getValue());
            } catch (IOException x) {
                if (first == null) first = x;
            }
        }
        saved.clear();
        if (first != null) throw first;
    }
}
