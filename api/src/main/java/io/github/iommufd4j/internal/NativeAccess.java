package io.github.iommufd4j.internal;

import io.github.iommufd4j.bindings.Libc;

/**
 * Whether this JVM lets the library make native calls. Both backends need it (the software
 * backend's fault queues are real file descriptors). Without a grant the JDK either warns (the
 * default) or, with {@code --illegal-native-access=deny}, refuses: the libc bindings then fail to
 * initialize, which is reported here once, as a reason a user can act on, instead of an
 * ExceptionInInitializerError from deep inside a call.
 */
public final class NativeAccess {
    private NativeAccess() {}

    private static volatile String problem;
    private static volatile boolean checked;

    /** The flags that grant it, for messages. */
    public static final String FLAGS = "--enable-native-access=io.github.iommufd4j.bindings,io.github.iommufd4j.api on the module path,"
            + " --enable-native-access=ALL-UNNAMED on the class path";

    /** Null when native calls work, else why not and how to grant them. */
    public static String problem() {
        if (!checked) {
            synchronized (NativeAccess.class) {
                if (!checked) {
                    problem = probe();
                    checked = true;
                }
            }
        }
        return problem;
    }

    /** Throws IllegalStateException naming the missing grant, if any. */
    public static void require() {
        String p = problem();
        if (p != null) throw new IllegalStateException(p);
    }

    private static String probe() {
        try {
            Libc.gettid();
            return null;
        } catch (ExceptionInInitializerError | NoClassDefFoundError | IllegalCallerException e) {
            Module m = Libc.class.getModule();
            String who = m.isNamed() ? "module " + m.getName() : "the class path (unnamed module)";
            return "native access is not enabled for " + who + " (java --illegal-native-access=deny or no grant): run java with "
                    + FLAGS;
        }
    }
}
