package io.github.iommufd4j.uring;

import io.github.iommufd4j.bindings.uapi.Uapi;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

/**
 * Which io_uring opcodes the running kernel supports, as reported by
 * {@code io_uring_register(IORING_REGISTER_PROBE)} (Linux 5.6+).
 *
 * <p>The kernel reports every opcode it knows, with a "supported" flag; opcodes newer than the
 * kernel are simply absent. Immutable.
 */
public final class Probe {
    private final boolean[] supported; // indexed by opcode, 256 entries
    private final int lastOp;

    Probe(boolean[] supported, int lastOp) {
        this.supported = supported.clone();
        this.lastOp = lastOp;
    }

    /** Whether the kernel supports {@code opcode} (an {@code IORING_OP_*} value); false outside 0..255. */
    public boolean supports(int opcode) {
        return opcode >= 0 && opcode < supported.length && supported[opcode];
    }

    /** The highest opcode the kernel knows ({@code last_op}). */
    public int lastOp() {
        return lastOp;
    }

    /** The names of the supported opcodes, in opcode order. */
    public List<String> supportedOpcodes() {
        List<String> names = new ArrayList<>();
        for (int op = 0; op < supported.length; op++) {
            if (supported[op]) names.add(opcodeName(op));
        }
        return names;
    }

    /**
     * The name of an opcode as in the UAPI header, e.g. {@code IORING_OP_POLL_ADD}, or
     * {@code opcode 250} for a number the headers this library was built against do not name.
     */
    public static String opcodeName(int opcode) {
        String[] names = Names.BY_OPCODE;
        String n = opcode >= 0 && opcode < names.length ? names[opcode] : null;
        return n != null ? n : "opcode " + opcode;
    }

    @Override
    public String toString() {
        return "Probe[lastOp=" + lastOp + ", supported=" + supportedOpcodes() + "]";
    }

    /** Opcode names, read once from the generated constants so they follow the pinned headers. */
    private static final class Names {
        static final String[] BY_OPCODE = load();

        private static String[] load() {
            String[] names = new String[256];
            for (Method m : Uapi.class.getMethods()) {
                String name = m.getName();
                if (name.startsWith("IORING_OP_") && !name.equals("IORING_OP_LAST")
                        && Modifier.isStatic(m.getModifiers()) && m.getParameterCount() == 0
                        && m.getReturnType() == int.class) {
                    try {
                        int op = (int) m.invoke(null);
                        if (op >= 0 && op < names.length && names[op] == null) names[op] = name;
                    } catch (ReflectiveOperationException e) {
                        // leave the opcode unnamed: it is only used in messages
                    }
                }
            }
            return names;
        }
    }
}
