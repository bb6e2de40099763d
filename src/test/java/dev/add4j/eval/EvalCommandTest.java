package dev.add4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.cli.EvalCommand;
import dev.add4j.cli.Main;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j eval} end to end with a tiny random UNet and a tiny random eval net on the embedded data. */
class EvalCommandTest {
    @TempDir static Path shared;
    @TempDir Path dir;
    static Path model, evalNet;

    @BeforeAll static void files() {
        TorchRuntime.init();
        torch.manual_seed(11);
        model = shared.resolve("tiny-teacher.safetensors");
        ModelFile.save(model, new UNet(UNet.Config.tiny()), "teacher", Map.of());
        evalNet = shared.resolve("evalnet-tiny.safetensors");
        new EvalNet(EvalNet.Config.tiny()).save(evalNet, Map.of());
    }

    /** Runs {@code add4j eval} with the shared files, embedded data, N = 20, steps 1 and 2, batch 8, and {@code override}s. */
    static int eval(Path out, String... override) {
        return new CommandLine(new EvalCommand()).execute(args(out, override));
    }

    @Test void metricsJsonHasTheDocumentedShapeWithOneRowPerStepCountAndAGridEach() throws Exception {
        Path out = dir.resolve("out");
        assertEquals(0, eval(out, "--guidance", "1.5"));
        JsonNode j = Json.tree(Files.readString(out.resolve("metrics.json")));
        assertEquals(model.toString(), j.get("model").asText());
        assertEquals(evalNet.toString(), j.get("eval_net").asText());
        assertTrue(j.get("reference").asText().contains("1000 images"), j.get("reference").asText());
        assertEquals(2, j.get("rows").size());
        for (int r = 0; r < 2; r++) {
            JsonNode row = j.get("rows").get(r);
            assertEquals(r + 1, row.get("steps").asInt());
            assertEquals("ddim", row.get("sampler").asText());
            assertEquals(1.5, row.get("guidance").asDouble());
            assertEquals(20, row.get("n").asInt());
            for (String k : new String[]{"fid", "kid", "kid_std", "clip_score", "class_accuracy", "precision", "recall", "ms_per_image"})
                assertTrue(row.get(k).isNumber() && Double.isFinite(row.get(k).asDouble()), k + " = " + row.get(k));
            assertEquals(10, row.get("per_class_accuracy").size());
            assertTrue(row.get("ms_per_image").asDouble() > 0);
            assertTrue(Files.isRegularFile(out.resolve("grid-steps-" + (r + 1) + ".png")));
        }
        assertEquals(List.of(999, 499), Json.read(Files.readString(out.resolve("metrics.json")), Evaluation.Report.class).rows().get(1).timesteps(),
                "metrics.json reads back into the Report record");
        assertEquals(2 * (64 + 2) + 2, dev.add4j.io.Images.read(out.resolve("grid-steps-1.png")).getWidth(), "2 images per class at N = 20");
    }

    /** The one-line error {@code args} give, asserting that nothing was written to {@code out}. */
    private String error(Path out, String... args) {
        EvalCommand cmd = CommandLine.populateCommand(new EvalCommand(), args);
        var e = assertThrows(Add4jException.class, cmd::call);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertFalse(Files.exists(out.resolve("grid-steps-1.png")), "failed before sampling");
        return e.getMessage();
    }

    /** The arguments of a small valid run; {@code override} pairs replace or (with a null value) drop options. */
    static String[] args(Path out, String... override) {
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("--model", model.toString());
        m.put("--eval-net", evalNet.toString());
        m.put("--data", "embedded");
        m.put("--n", "20");
        m.put("--steps", "1,2");
        m.put("--batch", "8");
        m.put("--device", "cpu");
        m.put("--out", out.toString());
        return dev.add4j.cli.CliRun.options(m, override).toArray(String[]::new);
    }

    @Test void badInputGivesOneClearLineBeforeAnyWork() {
        Path out = dir.resolve("bad");
        assertEquals("--model " + dir.resolve("none.safetensors") + ": no such file",
                error(out, args(out, "--model", dir.resolve("none.safetensors").toString())));
        Path noNet = dir.resolve("evalnet.safetensors");
        assertEquals("--eval-net " + noNet + ": no such file; train one with: add4j train-eval-net --out " + noNet,
                error(out, args(out, "--eval-net", noNet.toString())));
        assertEquals("--steps: 'x' is not an integer; expected a list like 1,2,4,50", error(out, args(out, "--steps", "1,x")));
        assertEquals("--steps: '' is not an integer; expected a list like 1,2,4,50", error(out, args(out, "--steps", "1,")));
        assertEquals("--steps: 0 is outside 1..1000", error(out, args(out, "--steps", "0")));
        assertEquals("--steps: 1001 is outside 1..1000", error(out, args(out, "--steps", "4,1001")));
        assertEquals("--steps: 4 is listed twice", error(out, args(out, "--steps", "4,2,4")));
        assertEquals("--n must be a positive multiple of 10 (the same number of images for each class), got 25",
                error(out, args(out, "--n", "25")));
        assertEquals("--guidance must be a number from 0 to 100 (0 or 1: none), got -1.0", error(out, args(out, "--guidance", "-1")));
        assertEquals("--sampler: expected ddim, euler-a or add, got 'heun'", error(out, args(out, "--sampler", "heun")));
        assertEquals("--model is required (or --sanity to check the metrics on real images)", error(out, args(out, "--model", null)));
        assertEquals("--sanity measures real images, not a model: drop --model and --steps", error(out, append(args(out), "--sanity")));
        assertFalse(Files.exists(out), "no output directory was made");
    }

    private static String[] append(String[] a, String s) {
        String[] b = java.util.Arrays.copyOf(a, a.length + 1);
        b[a.length] = s;
        return b;
    }

    @Test void anExistingMetricsJsonIsNeverOverwritten() throws Exception {
        Path out = dir.resolve("done");
        Files.createDirectories(out);
        Files.writeString(out.resolve("metrics.json"), "{\"keep\": true}");
        assertEquals("--out " + out + " is not empty (it holds metrics.json): choose another --out, or pass --force to write into it",
                error(out, args(out)));
        assertEquals("{\"keep\": true}", Files.readString(out.resolve("metrics.json")));
    }

    @Test void theToolExitsWithCode2OnBadInput() {
        String[] a = args(dir.resolve("x"), "--n", "7");
        String[] withVerb = new String[a.length + 1];
        withVerb[0] = "eval";
        System.arraycopy(a, 0, withVerb, 1, a.length);
        assertEquals(2, Main.execute(withVerb));
        assertEquals(0, Main.execute("eval", "--help"));
    }
}
