package dev.add4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.TorchRuntime;
import dev.add4j.cli.CliRun;
import dev.add4j.cli.Main;
import dev.add4j.features.Vit;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class BenchCommandTest {
    @TempDir static Path dir;
    static Path teacher, student, features, captions;

    @BeforeAll static void models() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            torch.manual_seed(0);
            teacher = dir.resolve("teacher.safetensors");
            ModelFile.save(teacher, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            student = dir.resolve("student.safetensors");
            ModelFile.save(student, new UNet(UNet.Config.tiny()), "student", Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249"));
            features = dir.resolve("features.safetensors");
            new Vit(Vit.Config.tiny()).save(features, Map.of());
        }
        captions = dir.resolve("captions.safetensors"); // made by the first run, read by the others
    }

    static CliRun run(String... args) { return CliRun.of(args); }

    /** The tiny bench's arguments; {@code pairs} (option, value) replace or add to the defaults, a lone "--json" is a flag. */
    static String[] tiny(String... pairs) {
        Map<String, String> o = new LinkedHashMap<>();
        String[] defaults = {"--teacher", teacher.toString(), "--student", student.toString(), "--features", features.toString(),
                "--caption-cache", captions.toString(), "--device", "cpu", "--runs", "1", "--warmup", "0", "--batches", "1,2",
                "--train-batch", "8", "--train-iterations", "1"};
        for (int i = 0; i < defaults.length; i += 2) o.put(defaults[i], defaults[i + 1]);
        List<String> flags = new ArrayList<>();
        for (int i = 0; i < pairs.length; i++) {
            if (pairs[i].equals("--json")) flags.add(pairs[i]);
            else o.put(pairs[i], pairs[++i]);
        }
        List<String> a = new ArrayList<>(List.of("bench"));
        o.forEach((k, v) -> { a.add(k); a.add(v); });
        a.addAll(flags);
        return a.toArray(new String[0]);
    }

    static void positive(JsonNode row, String... fields) {
        for (String f : fields) {
            double v = row.get(f).asDouble(Double.NaN);
            assertTrue(Double.isFinite(v) && v > 0, f + " must be positive and finite in " + row);
        }
    }

    @Test void jsonHasEverySamplingRowSpeedupAndTrainingPhaseWithPositiveNumbers() {
        long t0 = System.nanoTime();
        CliRun r = run(tiny("--json"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = Json.tree(r.out());                                       // stdout is the JSON object and nothing else
        assertEquals("cpu", j.get("device").asText());
        assertTrue(j.get("threads").asInt() >= 1);
        assertFalse(j.get("models").get("student_stand_in").asBoolean());
        positive(j.get("primitives"), "mm_side", "mm_gflop_per_s", "blas_threads", "op_us_no_grad", "op_us_inference");
        JsonNode rows = j.get("inference");
        assertEquals(8, rows.size(), "student 1, 2, 4 steps and teacher 50, at batch 1 and 2: " + rows);
        List<String> seen = new ArrayList<>();
        for (JsonNode row : rows) {
            seen.add(row.get("model").asText() + "/" + row.get("steps").asInt() + "/" + row.get("batch").asInt());
            positive(row, "runs", "ms_median", "ms_min", "ms_per_image", "images_per_s", "gflop", "gflop_per_s");
            assertEquals(row.get("ms_median").asDouble() / row.get("batch").asInt(), row.get("ms_per_image").asDouble(), 1e-9);
        }
        assertEquals(List.of("student/1/1", "student/2/1", "student/4/1", "teacher/50/1",
                "student/1/2", "student/2/2", "student/4/2", "teacher/50/2"), seen);
        assertEquals(2, j.get("speedups").size());
        for (JsonNode s : j.get("speedups")) positive(s, "speedup");
        JsonNode t = j.get("training");
        positive(t, "ms_per_iteration", "ms_per_iteration_timed", "gflop", "gflop_per_s");
        List<String> phases = new ArrayList<>();
        double shares = 0;
        for (JsonNode p : t.get("phases")) {
            phases.add(p.get("phase").asText());
            positive(p, "ms", "share");
            if (!p.get("phase").asText().equals("other")) positive(p, "gflop", "gflop_per_s");
            shares += p.get("share").asDouble();
        }
        assertEquals(List.of("student", "teacher", "discriminator", "r1", "other"), phases);
        assertEquals(1.0, shares, 1e-6, "the phases add up to the timed iteration");
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("BenchCommandTest: tiny bench in %.1f s%n", seconds);
        assertTrue(seconds < 30, "the tiny bench took " + seconds + " s");
    }

    @Test void theTableShowsTheRowsTheSpeedupAndThePhases() {
        CliRun r = run(tiny("--batches", "2", "--train-iterations", "0", "--student", teacher.toString(), "--precision", "bf16"));
        assertEquals(0, r.code(), r.err());
        String table = r.out();
        assertTrue(table.startsWith("add4j bench on cpu, "), table);
        assertTrue(table.contains(", sampling in bf16\n"), table);
        assertTrue(table.contains("primitives: torch.mm 2048² "), table);
        assertTrue(table.contains("no student yet: the teacher's network stands in"), table);
        assertTrue(table.matches("(?s).*student +add +1 +2 .*teacher +ddim +50 +2 .*"), table);
        assertTrue(table.contains("speedup at batch 2: student 1 step is "), table);
        assertFalse(table.contains("training:"), "--train-iterations 0: no training rows\n" + table);
        BenchResult back = Json.read(Json.write(sampleResult()), BenchResult.class);
        String withTraining = Benchmark.table(back);
        assertTrue(withTraining.matches("(?s).*\nr1 \\(est\\.\\) +.*\niteration +.*"), withTraining);
    }

    @Test void badOptionsExitWith2AndOneErrorLine() {
        for (String[] bad : List.of(new String[]{"--runs", "0"}, new String[]{"--batches", "1,x"}, new String[]{"--batches", "0"},
                new String[]{"--train-batch", "1"}, new String[]{"--teacher-steps", "0"}, new String[]{"--row-seconds", "0"}, new String[]{"--precision", "fp16"},
                new String[]{"--teacher", dir.resolve("missing.safetensors").toString()})) {
            CliRun r = run(tiny(bad));
            assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
            String line = r.err().strip();
            assertTrue(line.startsWith("error: ") && !line.contains("\n"), String.join(" ", bad) + " gave:\n" + r.err());
            assertTrue(r.out().isEmpty(), "nothing on stdout");
        }
        assertTrue(run(tiny("--teacher", dir.resolve("missing.safetensors").toString())).err().contains("missing.safetensors"));
    }

    /** A result with every part filled, for the table's layout. */
    static BenchResult sampleResult() {
        var rows = List.of(new BenchResult.InferenceRow("student", "add", 1, 1, 5, 10, 9, 10, 100, 0.5, 50),
                new BenchResult.InferenceRow("teacher", "ddim", 50, 1, 5, 500, 490, 500, 2, 25, 50));
        var phases = List.of(new BenchResult.Phase("student", 50, 0.5, 3, 60), new BenchResult.Phase("teacher", 20, 0.2, 1, 50),
                new BenchResult.Phase("discriminator", 20, 0.2, 1, 50), new BenchResult.Phase("r1", 9, 0.09, 0.1, 11),
                new BenchResult.Phase("other", 1, 0.01, 0, 0));
        return new BenchResult("cpu", 2, "fp32", new BenchResult.Models("s", false, "t", "f", 100, 0.5),
                new BenchResult.Primitives(2048, 150, 2, 1.5, 1.2), rows,
                List.of(new BenchResult.Speedup(1, 1, 50, 50)), new BenchResult.Training(32, 5, 95, 100, 5.1, 51, phases),
                List.of("a note"), Map.of("add4j.command", "add4j bench"));
    }
}
