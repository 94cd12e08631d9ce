package io.github.iommufd4j.bindings;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks the generated bindings against the C compiler: for every generated struct and union
 * its size, alignment and every field's offset and size, and for every generated constant its
 * value, as gcc sees them through the same pinned headers. Also the hand-written constants and
 * structs of {@link Libc} (with the CMSG macros) and the errno table of {@link Errno}.
 */
class AbiConformanceTest {
    private static final String PKG = "io.github.iommufd4j.bindings.uapi.";
    private static final Path SYSROOT = Path.of(System.getProperty("iommufd4j.sysroot", "../headers/target/sysroot"));
    private static final Path WRAPPER = Path.of(System.getProperty("iommufd4j.wrapper", "../headers/iommufd4j.h"));
    private static final Path INCLUDES = Path.of("src/main/java/io/github/iommufd4j/bindings/uapi/jextract-includes.txt");

    /** What the Java side claims, keyed like the probe's output lines ("S struct size", ...). */
    static Map<String, Long> java = new LinkedHashMap<>();
    /** C expressions for the same keys. */
    static Map<String, String> cExpr = new LinkedHashMap<>();
    static int structs, fields, constants, strings, libcConstants;
    static Map<String, Long> c;

    @BeforeAll
    static void probe(@TempDir Path dir) throws Exception {
        for (String line : Files.readAllLines(INCLUDES)) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 2) continue;
            switch (f[0]) {
                case "--include-struct" -> addRecord("struct", f[1]);
                case "--include-union" -> addRecord("union", f[1]);
                case "--include-constant" -> addConstant(f[1]);
                default -> { }
            }
        }
        addLibc();
        c = runProbe(dir);
    }

    private static void addRecord(String kind, String name) throws Exception {
        GroupLayout layout = (GroupLayout) Class.forName(PKG + name).getMethod("layout").invoke(null);
        String type = kind + " " + name;
        structs++;
        put("S " + name + " size", layout.byteSize(), "sizeof(" + type + ")");
        put("S " + name + " align", layout.byteAlignment(), "_Alignof(" + type + ")");
        addFields(type, name, layout, "", 0);
    }

    /** Walks the layout; anonymous members (jextract names them $anon$...) are transparent in C. */
    private static void addFields(String type, String name, GroupLayout group, String prefix, long base) {
        for (MemoryLayout m : group.memberLayouts()) {
            if (m instanceof PaddingLayout) continue;
            long offset = base + group.byteOffset(MemoryLayout.PathElement.groupElement(m.name().orElseThrow()));
            boolean anonymous = m.name().get().startsWith("$anon$");
            String path = anonymous ? prefix : prefix + m.name().get();
            if (m instanceof GroupLayout g) {
                if (!anonymous) {
                    fields++;
                    put("F " + name + " " + path + " offset", offset, "__builtin_offsetof(" + type + ", " + path + ")");
                    put("F " + name + " " + path + " size", g.byteSize(), "sizeof(((" + type + " *)0)->" + path + ")");
                }
                addFields(type, name, g, anonymous ? prefix : path + ".", offset);
            } else {
                fields++;
                put("F " + name + " " + path + " offset", offset, "__builtin_offsetof(" + type + ", " + path + ")");
                // A flexible array member has no size in C; its Java layout is a 0-length sequence.
                if (!(m instanceof SequenceLayout s && s.elementCount() == 0)) {
                    put("F " + name + " " + path + " size", m.byteSize(), "sizeof(((" + type + " *)0)->" + path + ")");
                }
            }
        }
    }

    private static void addConstant(String name) throws Exception {
        Method m = findConstant(name);
        Object v = m.invoke(null);
        if (v instanceof Number n) {
            constants++;
            // Compare at the Java type's width: jextract types a constant by its C type.
            String cast = switch (v) {
                case Integer i -> "(long long)(int)";
                case Long l -> "(long long)";
                case Short s -> "(long long)(short)";
                case Byte b -> "(long long)(signed char)";
                default -> "(long long)";
            };
            put("C " + name, n.longValue(), cast + "(" + name + ")");
        } else {
            strings++; // string macros: not part of the ABI we use
        }
    }

    private static Method findConstant(String name) throws Exception {
        for (Class<?> k = Class.forName(PKG + "Uapi"); k != null; k = k.getSuperclass()) {
            try {
                return k.getDeclaredMethod(name);
            } catch (NoSuchMethodException e) {
                // jextract spreads a large header class over a chain of superclasses
            }
        }
        throw new NoSuchMethodException(name);
    }

    private static void addLibc() throws Exception {
        for (Field f : Libc.class.getFields()) {
            if (!Modifier.isStatic(f.getModifiers())) continue;
            Object v = f.get(null);
            if (v instanceof GroupLayout g) { // the hand-written libc structs (pollfd, msghdr ...)
                String name = g.name().orElseThrow();
                structs++;
                put("S " + name + " size", g.byteSize(), "sizeof(struct " + name + ")");
                put("S " + name + " align", g.byteAlignment(), "_Alignof(struct " + name + ")");
                addFields("struct " + name, name, g, "", 0);
            }
            if (v instanceof Integer || v instanceof Short) {
                libcConstants++;
                put("L " + f.getName(), ((Number) v).longValue(), "(long long)(" + f.getName() + ")");
            }
        }
        for (int n : new int[] {0, 4, 8, 12, 4 * 253}) {
            put("L CMSG_LEN(" + n + ")", Libc.cmsgLen(n), "CMSG_LEN(" + n + ")");
            put("L CMSG_SPACE(" + n + ")", Libc.cmsgSpace(n), "CMSG_SPACE(" + n + ")");
        }
        for (int e = 1; e < 256; e++) {
            String n = Errno.name(e);
            if (n.equals("E" + e)) continue;
            libcConstants++;
            put("L errno " + n, e, "(long long)(" + n + ")");
        }
    }

    private static void put(String key, long javaValue, String expr) {
        java.put(key, javaValue);
        cExpr.put(key, expr);
    }

    private static Map<String, Long> runProbe(Path dir) throws IOException, InterruptedException {
        StringBuilder src = new StringBuilder("""
                #define _GNU_SOURCE
                #include <stdio.h>
                #include <stddef.h>
                #include <sys/eventfd.h>
                #include <sys/socket.h>
                #include <sys/mman.h>
                #include <sys/uio.h>
                #include <sys/un.h>
                #include <poll.h>
                #include "%s"
                int main(void) {
                """.formatted(WRAPPER.toAbsolutePath()));
        for (var e : cExpr.entrySet()) {
            src.append("  printf(\"%s\\t%lld\\n\", \"").append(e.getKey()).append("\", (long long)(")
                    .append(e.getValue()).append("));\n");
        }
        src.append("  return 0;\n}\n");
        Path c = dir.resolve("probe.c");
        Files.writeString(c, src);
        Path exe = dir.resolve("probe");
        run(dir, "gcc", "-std=gnu11", "-w", "-I", SYSROOT.resolve("kernel").toString(),
                "-I", SYSROOT.resolve("usr/include").toString(),
                "-I", SYSROOT.resolve("usr/include/x86_64-linux-gnu").toString(),
                "-o", exe.toString(), c.toString());
        Path out = dir.resolve("out.txt");
        run(dir, exe.toString(), ">", out.toString());
        Map<String, Long> values = new LinkedHashMap<>();
        for (String line : Files.readAllLines(out)) {
            int tab = line.lastIndexOf('\t');
            values.put(line.substring(0, tab), Long.parseLong(line.substring(tab + 1)));
        }
        return values;
    }

    private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb;
        int gt = List.of(cmd).indexOf(">");
        if (gt > 0) {
            pb = new ProcessBuilder(List.of(cmd).subList(0, gt)).redirectOutput(Path.of(cmd[gt + 1]).toFile());
        } else {
            pb = new ProcessBuilder(cmd).redirectOutput(dir.resolve("stdout.txt").toFile());
        }
        pb.redirectError(dir.resolve("stderr.txt").toFile()).directory(dir.toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "timed out: " + cmd[0]);
        assertEquals(0, p.exitValue(), () -> cmd[0] + " failed:\n" + read(dir.resolve("stderr.txt")));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** Every key whose Java and C values differ, as "key: java=.. c=..". */
    static List<String> mismatches(Map<String, Long> javaSide, Map<String, Long> cSide) {
        List<String> out = new ArrayList<>();
        for (var e : javaSide.entrySet()) {
            Long cv = cSide.get(e.getKey());
            if (!e.getValue().equals(cv)) out.add(e.getKey() + ": java=" + e.getValue() + " c=" + cv);
        }
        return out;
    }

    @Test
    void everyStructFieldAndConstantMatchesTheCompiler() {
        List<String> bad = mismatches(java, c);
        System.out.printf("ABI conformance: %d structs/unions, %d fields, %d constants (%d string macros skipped), "
                + "%d libc constants and errno values; %d checks, %d mismatches%n",
                structs, fields, constants, strings, libcConstants, java.size(), bad.size());
        assertTrue(bad.isEmpty(), () -> bad.size() + " ABI mismatches:\n" + String.join("\n", bad));
        assertTrue(structs >= 50 && constants >= 150, "too little was checked: " + structs + " structs, " + constants + " constants");
    }

    @Test
    void aWrongOffsetOrConstantIsDetected() {
        // The comparison must notice one field moved by 4 bytes and one constant off by one.
        Map<String, Long> tampered = new LinkedHashMap<>(java);
        tampered.merge("F iommu_ioas_map iova offset", 4L, Long::sum);
        tampered.merge("C IOMMU_IOAS_MAP", 1L, Long::sum);
        assertEquals(Set.of("F iommu_ioas_map iova offset: java=36 c=32", "C IOMMU_IOAS_MAP: java=15238 c=15237"),
                Set.copyOf(mismatches(tampered, c)));
    }

    @Test
    void knownValuesFromTheKernelSheet() {
        // A few numbers from docs/kernel-behaviour.md, independent of both sides of the probe.
        assertEquals(0x3b85L, c.get("C IOMMU_IOAS_MAP"));
        assertEquals(0x3ba0L, c.get("C IOMMU_TEST_CMD"));
        assertEquals(40L, c.get("S iommu_ioas_map size"));
        assertEquals(40L, c.get("S iommu_hwpt_pgfault size"));
        assertEquals(8L, c.get("S iommu_hwpt_page_response size"));
        assertEquals(72L, c.get("S iommu_test_cmd size"));
        assertEquals(64L, c.get("S io_uring_sqe size"));
    }
}
