package io.github.iommufd4j.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A strict JSON reader for the tests (RFC 8259): objects, arrays, strings, numbers, true, false, null. */
final class JsonParser {
    private final String s;
    private int i;

    private JsonParser(String s) {
        this.s = s;
    }

    /** The object that is the whole of {@code text}; IllegalArgumentException if it is not valid JSON. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> object(String text) {
        JsonParser p = new JsonParser(text);
        Object v = p.value();
        p.space();
        if (p.i != text.length()) throw p.error("text after the value");
        if (!(v instanceof Map)) throw p.error("not an object");
        return (Map<String, Object>) v;
    }

    private Object value() {
        space();
        if (i >= s.length()) throw error("end of text");
        char c = s.charAt(i);
        switch (c) {
            case '{': {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                space();
                if (peek('}')) return m;
                do {
                    space();
                    String k = string();
                    space();
                    expect(':');
                    if (m.put(k, value()) != null) throw error("duplicate name " + k);
                    space();
                } while (peek(','));
                expect('}');
                return m;
            }
            case '[': {
                i++;
                List<Object> l = new ArrayList<>();
                space();
                if (peek(']')) return l;
                do l.add(value()); while (peek(','));
                space();
                expect(']');
                return l;
            }
            case '"':
                return string();
            default:
                for (var lit : List.of(Map.entry("true", true), Map.entry("false", false))) {
                    if (s.startsWith(lit.getKey(), i)) {
                        i += lit.getKey().length();
                        return lit.getValue();
                    }
                }
                if (s.startsWith("null", i)) {
                    i += 4;
                    return null;
                }
                var m = java.util.regex.Pattern.compile("-?(0|[1-9]\\d*)(\\.\\d+)?([eE][+-]?\\d+)?").matcher(s).region(i, s.length());
                if (!m.lookingAt()) throw error("not a value");
                i = m.end();
                return Double.parseDouble(m.group());
        }
    }

    private String string() {
        expect('"');
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (i >= s.length()) throw error("unterminated string");
            char c = s.charAt(i++);
            if (c == '"') return sb.toString();
            if (c < 0x20) throw error("raw control character in a string");
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = s.charAt(i++);
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                    i += 4;
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private void space() {
        while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++;
    }

    private boolean peek(char c) {
        if (i < s.length() && s.charAt(i) == c) {
            i++;
            return true;
        }
        return false;
    }

    private void expect(char c) {
        if (!peek(c)) throw error("expected " + c);
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException(what + " at " + i + " in " + s);
    }
}
