package io.github.iommufd4j.bench;

import io.github.iommufd4j.bindings.uapi.iommu_ioas_alloc;
import io.github.iommufd4j.bindings.uapi.iommu_ioas_map;
import io.github.iommufd4j.internal.software.SoftwareBackend;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Collection;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static io.github.iommufd4j.bindings.uapi.Uapi.*;

/**
 * JMH: IOVA -> user address translations per second on one thread, in the software backend's
 * IOAS holding {@code mappings} mappings of {@code mappingBytes} each, at random addresses (what
 * an emulated device's DMA does per access). Two layouts are reported: guest RAM in a few large
 * mappings (the usual VMM case) and 1M 4 KiB mappings (the worst case for the lookup). Uses the
 * backend directly: translate is its API for emulated devices, beyond the kernel ABI.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class TranslateBenchmark {
    static final long PAGE = 4096, BASE = 1L << 32;

    @Param("1048576")
    public int mappings;

    @Param("4096")
    public long mappingBytes;

    private SoftwareBackend backend;
    private Arena arena;
    private int ioas;
    private long[] iovas;
    private int next;

    @Setup(Level.Trial)
    public void setup() {
        backend = new SoftwareBackend();
        arena = Arena.ofShared();
        MemorySegment s = arena.allocate(Math.max(iommu_ioas_alloc.sizeof(), iommu_ioas_map.sizeof()), 8);
        iommu_ioas_alloc.size(s, (int) iommu_ioas_alloc.sizeof());
        check(backend.ioctl(IOMMU_IOAS_ALLOC(), s));
        ioas = iommu_ioas_alloc.out_ioas_id(s);
        // Every mapping starts at one of 64 pages of one buffer: the lookup, not memory, is measured.
        MemorySegment memory = arena.allocate(mappingBytes + 63 * PAGE, PAGE);
        backend.registerMemory(memory);
        for (int i = 0; i < mappings; i++) {
            iommu_ioas_map.size(s, (int) iommu_ioas_map.sizeof());
            iommu_ioas_map.flags(s, IOMMU_IOAS_MAP_READABLE() | IOMMU_IOAS_MAP_WRITEABLE() | IOMMU_IOAS_MAP_FIXED_IOVA());
            iommu_ioas_map.ioas_id(s, ioas);
            iommu_ioas_map.user_va(s, memory.address() + (i % 64) * PAGE);
            iommu_ioas_map.length(s, mappingBytes);
            iommu_ioas_map.iova(s, BASE + i * mappingBytes);
            check(backend.ioctl(IOMMU_IOAS_MAP(), s));
        }
        SplittableRandom rnd = new SplittableRandom(42);
        iovas = new long[1 << 16];
        for (int i = 0; i < iovas.length; i++) iovas[i] = BASE + rnd.nextLong((long) mappings * mappingBytes);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        arena.close();
    }

    @Benchmark
    public long translate() {
        long va = backend.translate(ioas, iovas[next++ & (iovas.length - 1)], false);
        if (va < 0) throw new IllegalStateException("not mapped");
        return va;
    }

    private static void check(int rc) {
        if (rc < 0) throw new IllegalStateException("software backend ioctl: -" + -rc);
    }

    /** Runs this benchmark with the sizes' JMH settings; translations per second on one thread, per measurement iteration. */
    static double[] run(Sizes sizes, int mappings, long mappingBytes) throws RunnerException {
        var opts = new OptionsBuilder().include(TranslateBenchmark.class.getName() + ".translate")
                .param("mappings", String.valueOf(mappings)).param("mappingBytes", String.valueOf(mappingBytes))
                .warmupIterations(sizes.jmhWarmups()).warmupTime(TimeValue.milliseconds(sizes.jmhMillis()))
                .measurementIterations(sizes.jmhIterations()).measurementTime(TimeValue.milliseconds(sizes.jmhMillis()))
                .forks(sizes.jmhForks()).threads(1).shouldFailOnError(true).verbosity(VerboseMode.SILENT)
                .build();
        Collection<RunResult> results = new Runner(opts).run();
        return results.iterator().next().getBenchmarkResults().stream().flatMap(b -> b.getIterationResults().stream())
                .mapToDouble(i -> i.getPrimaryResult().getScore()).toArray();
    }
}
