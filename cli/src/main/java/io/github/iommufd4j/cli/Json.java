package io.github.iommufd4j.cli;

/**
 * A JSON object written member by member (RFC 8259): strings escaped (quote, backslash, every
 * control character), numbers as JSON numbers, non-finite numbers as null.
 */
final class Json {
    private final StringBuilder sb = new StringBuilder("{");

    Json add(String name, String value) {
        name(name);
        if (value == null) sb.append("null");
        else quote(value);
        return this;
    }

    Json add(String name, long value) {
        name(name).append(value);
        return this;
    }

    Json add(String name, double value) {
        // Double.toString is a JSON number for finite values (e.g. 1.5, 1.0E7).
        name(name).append(Double.isFinite(value) ? Double.toString(value) : "null");
        return this;
    }

    Json add(String name, boolean value) {
        name(name).append(value);
        return this;
    }

    /** The object, closed. */
    @Override
    public String toString() {
        return sb + "}";
    }

    private StringBuilder name(String name) {
        if (sb.length() > 1) sb.append(',');
        quote(name);
        return sb.append(':');
    }

    private void quote(String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
