package io.github.iommufd4j.reliability;

import io.github.iommufd4j.bindings.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The kernel's per-task fault injection ({@code /proc/self/task/<tid>/fail-nth}, with
 * CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC): after {@link #arm(int) arm(n)} the n-th slab or
 * page allocation of the calling thread fails. The file is that of the thread that opened it,
 * so create, arm and read it on one platform thread. {@link FaultStackFilter} confines the
 * failures (and the count) to allocations made by one part of the kernel, e.g. iommufd.
 */
public final class FailNth implements AutoCloseable {
    private static final Path DEBUGFS = Path.of("/sys/kernel/debug");
    private final Thread owner = Thread.currentThread();
    private final int fd;
    /** Preallocated, so that nothing is allocated between arming and the operation. */
    private final MemorySegment buf = Arena.global().allocate(16);

    private FailNth(int fd) {
        this.fd = fd;
    }

    /** Why fault injection cannot be used here, or null when it can. */
    public static String unavailableReason() {
        if (!Files.exists(path())) return "no " + path() + " (kernel without CONFIG_FAULT_INJECTION)";
        if (!Files.isDirectory(DEBUGFS.resolve("failslab"))) return "no debugfs failslab (CONFIG_FAILSLAB, debugfs mounted)";
        return null;
    }

    static Path path() {
        return Path.of("/proc/self/task/" + Libc.gettid() + "/fail-nth");
    }

    /**
     * Opens the calling thread's fail-nth file and lets GFP_KERNEL allocations fail too (by default
     * only atomic ones may), quietly: a stack dump per injected failure is slow on a serial console.
     * {@code -Diommufd4j.failnth.verbose=2} has the kernel log each injected failure with its stack.
     */
    public static FailNth open() throws IOException {
        if (Thread.currentThread().isVirtual()) throw new IllegalStateException("fail-nth needs a platform thread");
        String verbose = System.getProperty("iommufd4j.failnth.verbose", "0");
        for (String dir : new String[] {"failslab", "fail_page_alloc"}) {
            write(dir + "/ignore-gfp-wait", "N");
            write(dir + "/verbose", verbose);
            if (!verbose.equals("0")) write(dir + "/verbose_ratelimit_interval_ms", "0"); // log every one
        }
        write("fail_page_alloc/ignore-gfp-highmem", "N");
        // CONFIG_IOMMUFD_TEST's own injection points (object lookups, reservations) count too.
        if (Files.isDirectory(DEBUGFS.resolve("fail_iommufd"))) write("fail_iommufd/verbose", verbose);
        write("fail_page_alloc/min-order", "0");
        int fd = Libc.open(path().toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException("open " + path() + ": errno " + -fd);
        return new FailNth(fd);
    }

    private static void write(String file, String value) throws IOException {
        Files.writeString(DEBUGFS.resolve(file), value);
    }

    /** The n-th fault-injection point the thread passes from now on fails. */
    public void arm(int n) {
        put(Integer.toString(n));
    }

    /** Disarms; true if the armed failure was injected (the file then reads 0). */
    public boolean disarm() {
        check();
        long r = Libc.pread(fd, buf, buf.byteSize(), 0);
        if (r <= 0) throw new IllegalStateException("read fail-nth: " + r);
        String s = new String(buf.asSlice(0, r).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).trim();
        put("0");
        return Integer.parseInt(s) == 0;
    }

    private void put(String s) {
        check();
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        MemorySegment.copy(b, 0, buf, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
        long r = Libc.pwrite(fd, buf, b.length, 0);
        if (r != b.length) throw new IllegalStateException("write fail-nth " + s + ": " + r);
    }

    private void check() {
        if (Thread.currentThread() != owner) throw new IllegalStateException("fail-nth belongs to " + owner);
    }

    @Override
    public void close() {
        put("0");
        Libc.close(fd);
    }
}
