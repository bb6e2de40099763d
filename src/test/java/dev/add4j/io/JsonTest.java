package dev.add4j.io;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class JsonTest {
    @TempDir Path dir;

    record Optim(double lr, List<Double> betas) {}

    record Run(String name, int steps, List<Integer> timesteps, Optim optim) {
        Run {
            if (steps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + steps);
        }
    }

    private static final Run RUN = new Run("fmnist", 1000, List.of(999, 749, 499, 249), new Optim(1e-4, List.of(0.0, 0.99)));

    @Test void recordRoundTripIsEqual() {
        assertEquals(RUN, Json.read(Json.write(RUN), Run.class));
    }

    @Test void recordRoundTripThroughAFileIsEqual() {
        Path file = dir.resolve("run.json");
        AtomicFiles.writeString(file, Json.write(RUN));
        assertEquals(RUN, Json.read(file, Run.class));
    }

    @Test void outputIsPrettyPrintedAndReadableAsATree() {
        String json = Json.write(RUN);
        assertTrue(json.contains("\n"), json);
        assertEquals(749, Json.tree(json).get("timesteps").get(1).asInt());
    }

    @Test void unknownFieldIsRejectedWithTheFileAndItsName() {
        Path file = dir.resolve("run.json");
        AtomicFiles.writeString(file, "{\"name\": \"a\", \"steps\": 1, \"lr2\": 0.1}");
        var e = assertThrows(Add4jException.class, () -> Json.read(file, Run.class));
        assertTrue(e.getMessage().startsWith(file + ": unknown field 'lr2'"), e.getMessage());
    }

    @Test void unknownNestedFieldIsNamedByItsPath() {
        var e = assertThrows(Add4jException.class, () -> Json.read("{\"optim\": {\"lr\": 1, \"beta\": 2}}", Run.class));
        assertTrue(e.getMessage().startsWith("json: unknown field 'optim.beta'"), e.getMessage());
    }

    @Test void wrongTypeNamesTheField() {
        var e = assertThrows(Add4jException.class, () -> Json.read("{\"steps\": \"many\"}", Run.class));
        assertTrue(e.getMessage().startsWith("json: field 'steps': "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test void aRecordConstructorsRejectionIsReportedWithTheFile() {
        Path file = dir.resolve("bad.json");
        AtomicFiles.writeString(file, "{\"steps\": -1}");
        var e = assertThrows(Add4jException.class, () -> Json.read(file, Run.class));
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        assertTrue(e.getMessage().endsWith("steps must be >= 0, got -1"), e.getMessage());
    }

    @Test void invalidJsonGivesOneLineWithThePosition() {
        var e = assertThrows(Add4jException.class, () -> Json.tree("{\"a\": 1,\n \"b\": }"));
        assertTrue(e.getMessage().startsWith("json: not valid JSON at line 2"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test void missingFileIsReportedAsNoSuchFile() {
        Path file = dir.resolve("nope.json");
        var e = assertThrows(Add4jException.class, () -> Json.read(file, Run.class));
        assertEquals(file + ": no such file", e.getMessage());
    }

    @Test void strictReadingTakesExactTypesOnlyButAnIntForADouble() {
        assertEquals(new Optim(1.0, List.of(0.0, 1.0)), Json.readStrict("{\"lr\":1,\"betas\":[0,1]}", "src", Optim.class));
        for (String bad : new String[]{"{\"lr\":\"1\",\"betas\":[]}", "{\"lr\":null,\"betas\":[]}", "{\"lr\":1,\"betas\":[null]}",
                "{\"lr\":1}", "{\"lr\":1,\"lr\":2,\"betas\":[]}", "{\"lr\":true,\"betas\":[]}"}) {
            var e = assertThrows(Add4jException.class, () -> Json.readStrict(bad, "src", Optim.class), bad);
            assertTrue(e.getMessage().startsWith("src: "), e.getMessage());
            assertTrue(e.getMessage().contains("lr") || e.getMessage().contains("betas"), e.getMessage());
        }
    }

    @Test void strictOptionalReadingLeavesOutFieldsButRefusesNullAndOtherTypesInJsonsWords() {
        assertEquals(new Run(null, 3, null, null), Json.readStrictOptional("{\"steps\": 3}", "body", Run.class));
        String[][] cases = {
                {"{\"steps\": 1.5}", "body: field 'steps': expected an integer, got 1.5"},
                {"{\"steps\": \"2\"}", "body: field 'steps': expected an integer, got \"2\""},
                {"{\"name\": 123}", "body: field 'name': expected a string, got 123"},
                {"{\"name\": null}", "body: field 'name': null is not allowed; leave the field out for its default"},
                {"{\"timesteps\": [1, null]}", "body: field 'timesteps[1]': null is not allowed; leave the field out for its default"},
                {"{\"optim\": {\"lr\": true}}", "body: field 'optim.lr': expected a number, got a boolean"},
                {"{\"steps\": 99999999999}", "body: field 'steps': expected an integer in -2147483648..2147483647, got 99999999999"},
                {"{\"name\": [\"a\"]}", "body: field 'name': expected a string, got a list"},
                {"[]", "body: expected an object, got a list"},
        };
        for (String[] c : cases)
            assertEquals(c[1], assertThrows(Add4jException.class, () -> Json.readStrictOptional(c[0], "body", Run.class), c[0]).getMessage());
        assertTrue(assertThrows(Add4jException.class, () -> Json.readStrictOptional("{\"name\": \"a\", \"name\": \"b\"}", "body", Run.class))
                .getMessage().contains("Duplicate field 'name'"));
    }
}
