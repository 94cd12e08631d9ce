package io.github.iommufd4j.cli;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The JSON writer's output reads back to the same values. */
class JsonTest {

    @Test
    void stringsWithQuotesBackslashesAndControlCharactersRoundTrip() {
        StringBuilder every = new StringBuilder();
        for (char c = 0; c < 0x80; c++) every.append(c);
        String nasty = "say \"hi\" \\ C:\\path\n\ttab\u0000nul\u001fus\u2028ls é 😀" + every;
        String text = new Json().add("s", nasty).add("quote\"name", "v").toString();
        for (char c : text.toCharArray()) assertTrue(c >= 0x20, "raw control character in " + text);
        Map<String, Object> m = JsonParser.object(text);
        assertEquals(nasty, m.get("s"));
        assertEquals("v", m.get("quote\"name"));
    }

    @Test
    void numbersBooleansAndNulls() {
        String text = new Json().add("i", -42L).add("big", Long.MAX_VALUE).add("d", 1.25).add("e", 1e7).add("tiny", 1e-9)
                .add("nan", Double.NaN).add("inf", Double.POSITIVE_INFINITY).add("t", true).add("f", false)
                .add("none", (String) null).toString();
        Map<String, Object> m = JsonParser.object(text);
        assertEquals(-42.0, m.get("i"));
        assertEquals((double) Long.MAX_VALUE, m.get("big"));
        assertEquals(1.25, m.get("d"));
        assertEquals(1e7, m.get("e"));
        assertEquals(1e-9, m.get("tiny"));
        assertNull(m.get("nan"));
        assertTrue(m.containsKey("nan"));
        assertNull(m.get("inf"));
        assertEquals(true, m.get("t"));
        assertEquals(false, m.get("f"));
        assertTrue(m.containsKey("none"));
        assertEquals("{}", new Json().toString());
    }

    @Test
    void theTestParserRejectsWhatIsNotJson() {
        for (String bad : new String[] {"{\"a\":\"x\ny\"}", "{\"a\":1,}", "{\"a\":'x'}", "{\"a\":01}", "{\"a\":NaN}", "{\"a\":1} x", "[1]"}) {
            assertThrows(IllegalArgumentException.class, () -> JsonParser.object(bad), bad);
        }
    }
}
