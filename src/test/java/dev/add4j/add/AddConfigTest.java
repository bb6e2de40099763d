package dev.add4j.add;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.add4j.Add4jException;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.io.Json;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class AddConfigTest {
    /** A preset's full JSON as add4j wrote it when AddConfig was one flat record (presets/*.json). */
    static String golden(String name) {
        try (InputStream in = AddConfigTest.class.getResourceAsStream("presets/" + name + ".json")) {
            assertNotNull(in, name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** {@code c} as add4j wrote it when AddConfig was one flat record (every field at the top, in that order), compact. */
    static String flat(AddConfig c) {
        JsonNode n = Json.tree(Json.compact(c));
        ObjectNode out = ((ObjectNode) n).objectNode();
        n.get("paper").fields().forEachRemaining(f -> out.set(f.getKey(), f.getValue()));
        for (String f : List.of("steps", "batch")) out.set(f, n.get(f));
        n.get("optim").fields().forEachRemaining(f -> out.set(f.getKey(), f.getValue()));
        out.set("seed", n.get("seed"));
        out.set("classGroups", n.get("extras").get("classGroups"));
        out.set("warmup", n.get("warmup"));
        for (String f : List.of("discWarmup", "regWeight", "discBackbone", "advRatio")) out.set(f, n.get("extras").get(f));
        return Json.compact(out);
    }

    @Test void thePresetsKeepEveryValue() {
        var presets = List.of(
                new Object[]{"paper-1000x32-seed0", AddConfig.paperDefaults(1000, 32, 0)},
                new Object[]{"paper-40000x256-seed7", AddConfig.paperDefaults(40000, 256, 7)},
                new Object[]{"recipe-1000x32-seed0", AddConfig.recipe(1000, 32, 0)},
                new Object[]{"recipe-10x8-seed3", AddConfig.recipe(10, 8, 3)});   // pairs: at most steps x batch
        for (Object[] p : presets) {
            String name = (String) p[0];
            AddConfig preset = (AddConfig) p[1];
            // the warm-up's inputs and featureWeight were dropped since (AddConfig.upgrade): the rest is every value
            String now = golden(name).replace("    \"inputs\" : \"TRAJECTORY\",\n", "").replace(",\n    \"featureWeight\" : 0.0", "");
            assertEquals(now, Json.write(Json.tree(flat(preset))), name + ": every value, in the flat layout");
            assertEquals(preset, Json.read(golden(name), AddConfig.class), name + ": the recorded file reads as the preset");
        }
    }

    @Test void theCurrentLayoutRoundTripsAndNeedsNoUpgrade() {
        AddConfig c = AddConfig.recipe(300, 16, 5).withPaper(p -> p.withCond(Cond.TEXT).withTRange(50, 900))
                .withOptim(o -> o.withEmaDecay(0.999)).withExtras(x -> x.withDiscWarmup(20).withAdvRatio(0.5));
        String json = Json.write(c);
        assertEquals(c, Json.read(json, AddConfig.class));
        assertEquals(Json.tree(json), AddConfig.upgrade(Json.tree(json)));
    }

    @Test void everyShippedStudentConfigLoads() throws IOException {
        try (var files = Files.list(Path.of("models"))) {
            List<Path> configs = files.filter(f -> f.getFileName().toString().matches("student-.*\\.config\\.json")).sorted().toList();
            assertFalse(configs.isEmpty());
            for (Path f : configs) assertDoesNotThrow(() -> Json.read(f, AddConfig.class), f.toString());
        }
        AddConfig r5 = Json.read(Path.of("models/student-fmnist.add-r5.config.json"), AddConfig.class);
        assertEquals(25.0, r5.paper().lambda());
        assertEquals(DiffAugment.Policy.NONE, r5.paper().diffAugment());
        assertEquals(new AddConfig.Extras(false, 100, 100.0, new AddConfig.DiscBackbone(true, 100), 0, 1), r5.extras());
        // from before DiffAugment policies, the later options and the warm-up's inputs: their old meaning
        AddConfig s1 = Json.read(Path.of("models/student-fmnist.stage1-gpu.config.json"), AddConfig.class);
        assertEquals(DiffAugment.Policy.ALL, s1.paper().diffAugment());
        assertEquals(AddConfig.Extras.NONE, s1.extras());
        assertEquals(new AddConfig.Warmup(40000, 32768, 48, 3e-4), s1.warmup());
        assertEquals(List.of(), AddConfig.dropped(Json.tree(Files.readString(Path.of("models/student-fmnist.stage1-gpu.config.json")))));
        assertEquals(List.of("--ode-feature-weight 0.25"), AddConfig.dropped(Json.tree(Files.readString(Path.of("models/student-fmnist.f3-cpu.config.json")))),
                "f3's perceptual warm-up: it reads, as the pixel one");
    }

    @Test void oldAndNewFilesNameAnUnknownField() {
        String old = golden("paper-1000x32-seed0").replace("\"lambda\"", "\"lambda2\"");
        var e = assertThrows(Add4jException.class, () -> Json.read(old, AddConfig.class));
        assertTrue(e.getMessage().startsWith("json: unknown field 'lambda2'"), e.getMessage());
        String now = Json.write(AddConfig.paperDefaults(10, 8, 0)).replace("\"lambda\"", "\"lambda2\"");
        e = assertThrows(Add4jException.class, () -> Json.read(now, AddConfig.class));
        assertTrue(e.getMessage().startsWith("json: unknown field 'paper.lambda2'"), e.getMessage());
    }
}
