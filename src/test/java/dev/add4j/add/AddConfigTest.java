package dev.add4j.add;

import dev.add4j.io.Json;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class AddConfigTest {
    /** A preset's full JSON as add4j wrote it when the presets were positional records (presets/*.json). */
    static String golden(String name) {
        try (InputStream in = AddConfigTest.class.getResourceAsStream("presets/" + name + ".json")) {
            assertNotNull(in, name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test void thePresetsKeepEveryValue() {
        assertEquals(golden("paper-1000x32-seed0"), Json.write(AddConfig.paperDefaults(1000, 32, 0)));
        assertEquals(golden("paper-40000x256-seed7"), Json.write(AddConfig.paperDefaults(40000, 256, 7)));
        assertEquals(golden("recipe-1000x32-seed0"), Json.write(AddConfig.recipe(1000, 32, 0)));
        assertEquals(golden("recipe-10x8-seed3"), Json.write(AddConfig.recipe(10, 8, 3)), "pairs: at most steps x batch");
    }
}
