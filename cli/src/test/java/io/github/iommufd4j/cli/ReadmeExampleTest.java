package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example compiles and runs (on the backend {@code Iommufd.open()} picks). */
class ReadmeExampleTest {

    @Test
    void readmeExampleCompilesAndRuns(@TempDir Path dir) throws Exception {
        String readme = Files.readString(Path.of("../README.md"));
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has a ```java example");
        String example = m.group(1);
        assertTrue(example.lines().count() <= 30, "the example stays short");
        Path src = dir.resolve("ReadmeExample.java");
        Files.writeString(src, """
                import io.github.iommufd4j.*;
                import java.lang.foreign.*;
                public class ReadmeExample {
                    public static void main(String[] args) throws Exception {
                %s
                    }
                }
                """.formatted(example));
        String path = System.getProperty("jdk.module.path", "") + java.io.File.pathSeparator + System.getProperty("java.class.path", "");
        var javac = java.util.spi.ToolProvider.findFirst("javac").orElseThrow();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream errStream = new PrintStream(err, true);
        int rc = javac.run(errStream, errStream, "-cp", path, "-d", dir.toString(), src.toString());
        assertEquals(0, rc, () -> "the README example does not compile:\n" + err);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            loader.loadClass("ReadmeExample").getMethod("main", String[].class).invoke(null, (Object) new String[0]);
        }
    }
}
