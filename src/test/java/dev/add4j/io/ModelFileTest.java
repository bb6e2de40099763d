package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.eval.EvalNet;
import dev.add4j.features.Vit;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile model files, made here from a tiny UNet: each is refused with one line naming the file and the field,
 * before the network is allocated where the config is what is wrong (docs/ROBUSTNESS.md).
 */
class ModelFileTest {
    @TempDir static Path dir;
    static Path good;
    static final String TINY = "{\"imageChannels\":1,\"baseChannels\":16,\"channelMults\":[1,2],\"resBlocks\":1,"
            + "\"attnLevels\":[1],\"heads\":2,\"textDim\":384}";

    @BeforeAll static void init() {
        TorchRuntime.init();
        good = dir.resolve("good.safetensors");
        try (var scope = new PointerScope()) {
            torch.manual_seed(0);
            ModelFile.save(good, new UNet(UNet.Config.tiny()), "teacher", Map.of());
        }
    }

    /** The good file's weights under other metadata {@code add4j.unet}. */
    private static Path withConfig(String name, String unetJson) {
        Path f = dir.resolve(name + ".safetensors");
        try (var scope = new PointerScope()) {
            var c = SafeTensors.read(good);
            Map<String, String> meta = new LinkedHashMap<>(c.metadata());
            meta.put(ModelFile.UNET, unetJson);
            SafeTensors.write(f, c.tensors(), meta, SafeTensors.Dtype.F16);
        }
        return f;
    }

    /** Loads {@code file}, which must fail with one line that names the file and each of {@code words}. */
    private static String refused(Path file, String... words) {
        try (var scope = new PointerScope()) {
            var e = assertThrows(Add4jException.class, () -> ModelFile.load(file, new Device("cpu")));
            String m = e.getMessage();
            assertFalse(m.contains("\n"), "one line: " + m);
            assertTrue(m.startsWith(file.toString()), "names the file: " + m);
            for (String w : words) assertTrue(m.contains(w), "names " + w + ": " + m);
            return m;
        }
    }

    @Test void theTinyConfigAsWrittenLoads() {
        try (var scope = new PointerScope()) {
            assertEquals(UNet.Config.tiny(), ModelFile.load(withConfig("same", TINY), new Device("cpu")).model().net().config());
        }
    }

    /** The good file's weights with metadata {@code add4j.image_size} set to {@code value} (null: left out). */
    private static Path withImageSize(String name, String value) {
        Path f = dir.resolve(name + ".safetensors");
        try (var scope = new PointerScope()) {
            var c = SafeTensors.read(good);
            Map<String, String> meta = new LinkedHashMap<>(c.metadata());
            if (value == null) meta.remove(ModelFile.IMAGE_SIZE); else meta.put(ModelFile.IMAGE_SIZE, value);
            SafeTensors.write(f, c.tensors(), meta, SafeTensors.Dtype.F16);
        }
        return f;
    }

    @Test void theImageSizeIsReadFromTheFileAndAFileWithoutOneIs32Px() {
        try (var scope = new PointerScope()) {
            assertEquals("32", SafeTensors.read(good).metadata().get(ModelFile.IMAGE_SIZE));           // written by save
            assertEquals(32, ModelFile.load(withImageSize("none", null), new Device("cpu")).model().imageSize());
            assertEquals(64, ModelFile.load(withImageSize("s64", "64"), new Device("cpu")).model().imageSize());
        }
        refused(withImageSize("word", "big"), ModelFile.IMAGE_SIZE, "expected a side in pixels like 32 or 64, got 'big'");
        refused(withImageSize("odd", "33"), ModelFile.IMAGE_SIZE, "multiple of 2", "got 33");
        refused(withImageSize("huge", "512"), ModelFile.IMAGE_SIZE, "up to 256", "got 512");
        refused(withImageSize("neg", "-32"), ModelFile.IMAGE_SIZE, "got '-32'");
    }

    @Test void theShippedModelsPassTheStrictReader() {
        try (var scope = new PointerScope()) {
            for (String m : new String[]{"teacher-fmnist", "student-fmnist"})
                assertEquals(UNet.Config.fmnist(), ModelFile.load(Path.of("models", m + ".safetensors"), new Device("cpu")).model().net().config());
            for (String m : new String[]{"features-fmnist", "features-sup-fmnist"}) Vit.load(Path.of("models", m + ".safetensors"));
            EvalNet.load(Path.of("models", "evalnet-fmnist.safetensors"), new Device("cpu"));
        }
    }

    @Test void eachBadConfigValueIsRefusedNamingItsField() {
        String[][] cases = {  // field, its bad JSON value
                {"heads", "0"}, {"heads", "-1"}, {"heads", "3"}, {"heads", "1000000"}, {"heads", "null"},
                {"resBlocks", "1000000"}, {"resBlocks", "0"},
                {"baseChannels", "-16"}, {"baseChannels", "1073741824"}, {"baseChannels", "24"},
                {"baseChannels", "32.5"}, {"baseChannels", "\"32\""}, {"baseChannels", "true"}, {"baseChannels", "9999999999999"},
                {"imageChannels", "1000000"}, {"imageChannels", "0"}, {"imageChannels", "-3"},
                {"textDim", "-1"}, {"textDim", "1000000000"},
                {"channelMults", "[1,-2]"}, {"channelMults", "[1,100000]"}, {"channelMults", "[1,null]"}, {"channelMults", "[]"},
                {"channelMults", "[1,2.5]"}, {"channelMults", "null"}, {"channelMults", "[1,1,1,1,1,1,1]"}, {"channelMults", "2"},
                {"attnLevels", "[5]"}, {"attnLevels", "[-1]"},
        };
        for (String[] c : cases) {
            String json = TINY.replaceFirst("\"" + c[0] + "\":(\\[[^]]*]|[^,}]+)", "\"" + c[0] + "\":" + c[1].replace("$", "\\$"));
            assertNotEquals(TINY, json, c[0]);
            refused(withConfig("bad-" + c[0], json), c[0], ModelFile.UNET);
        }
    }

    @Test void aMissingFieldIsNamedItself() {
        for (String field : new String[]{"heads", "imageChannels", "textDim", "channelMults"}) {
            String json = TINY.replaceFirst("\"" + field + "\":(\\[[^]]*]|[^,}]+),?", "").replace(",}", "}");
            String m = refused(withConfig("missing-" + field, json), field);
            for (String other : new String[]{"heads", "imageChannels", "textDim", "baseChannels"})
                if (!other.equals(field)) assertFalse(m.contains(other), "blames only " + field + ": " + m);
        }
    }

    @Test void aDuplicateKeyAnUnknownFieldAndBadJsonAreRefused() {
        refused(withConfig("dup", TINY.replace("\"heads\":2", "\"heads\":2,\"heads\":4")), "heads");
        refused(withConfig("unknown", TINY.replace("\"heads\":2", "\"heads\":2,\"depth\":4")), "depth");
        refused(withConfig("notjson", "{\"heads\":"), "not valid JSON");
        refused(withConfig("array", "[1,2]"), ModelFile.UNET);
    }

    @Test void aConfigLargerThanTheWeightsIsRefusedBeforeAllocating() {
        // within every limit, 2048 channels wide: 10^8 weights asked of a file with 10^5 (no time or memory spent)
        long t = System.nanoTime();
        refused(withConfig("huge", TINY.replace("\"baseChannels\":16", "\"baseChannels\":1024")),
                "weights but the file holds");
        assertTrue(System.nanoTime() - t < 5e9, "refused at once");
    }

    @Test void aConfigThatDoesNotMatchTheWeightsNamesATensor() {
        refused(withConfig("narrow", TINY.replace("\"textDim\":384", "\"textDim\":32")), "text_pool");
    }

    @Test void nonFiniteWeightsAreRefusedNamingTheTensor() {
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
            Path f = dir.resolve("nan.safetensors");
            try (var scope = new PointerScope()) {
                var c = SafeTensors.read(good);
                Map<String, Tensor> w = new LinkedHashMap<>(c.tensors());
                w.put("conv_in.weight", w.get("conv_in.weight").mul(Ops.s(0)).add(Ops.s(bad)));
                SafeTensors.write(f, w, c.metadata(), SafeTensors.Dtype.F16);
            }
            refused(f, "conv_in.weight", "non-finite");
        }
        assertTrue(Files.exists(good));
    }
}
