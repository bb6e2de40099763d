package dev.add4j.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Exit code, standard output and standard error of one in-process run of the tool (the command-line tests' helper). */
public record CliRun(int code, String out, String err) {

    /** Runs {@code add4j args...} through {@link Main#execute}, capturing both streams. */
    public static CliRun of(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new CliRun(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /**
     * Option/value arguments: {@code defaults} in order, each {@code override} pair (option, value) replacing or
     * adding one, a null value dropping it.
     */
    public static List<String> options(Map<String, String> defaults, String... override) {
        Map<String, String> m = new LinkedHashMap<>(defaults);
        for (int i = 0; i < override.length; i += 2) m.put(override[i], override[i + 1]);
        List<String> a = new ArrayList<>();
        m.forEach((k, v) -> { if (v != null) { a.add(k); a.add(v); } });
        return a;
    }

    /** Asserts a bad-input failure: exit 2 and exactly one line starting "error:"; returns the line. */
    public String badInput() {
        assertEquals(2, code, err);
        String line = err.strip();
        assertTrue(line.startsWith("error: "), err);
        assertFalse(line.contains("\n"), "one line, got:\n" + err);
        return line;
    }
}
