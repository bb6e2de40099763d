package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.io.ModelFile;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile input to the command-line tool, generated here: each case ends in exit 2 and one error line (no stack
 * trace), at once (no hang), with nothing written or overwritten (docs/ROBUSTNESS.md lists what each case checks).
 */
@Timeout(120)
class HostileInputTest {
    @TempDir static Path shared;
    static Path tinyModel;

    @BeforeAll static void init() {
        TorchRuntime.init();
        tinyModel = shared.resolve("tiny.safetensors");
        try (var scope = new PointerScope()) {
            torch.manual_seed(0);
            ModelFile.save(tinyModel, new UNet(UNet.Config.tiny()), "teacher", Map.of());
        }
    }

    /** {@code add4j sample} of one 1-step image of the tiny model into {@code out}, with {@code override} option pairs (a null value drops one). */
    private static List<String> sample(Path out, String... override) {
        Map<String, String> defaults = new LinkedHashMap<>();
        for (String[] kv : new String[][]{{"--model", tinyModel.toString()}, {"--steps", "1"}, {"--n", "1"}, {"--device", "cpu"},
                {"--out", out.toString()}, {"--prompt", "a shirt"}}) defaults.put(kv[0], kv[1]);
        List<String> a = new ArrayList<>(List.of("sample"));
        List<String> pairs = new ArrayList<>(List.of(override));
        if (pairs.contains("--prompts")) pairs.addAll(java.util.Arrays.asList("--prompt", null));
        boolean force = pairs.remove("--force");
        a.addAll(CliRun.options(defaults, pairs.toArray(new String[0])));
        if (force) a.add("--force");
        return a;
    }

    private static String bad(List<String> args) { return CliRun.of(args.toArray(new String[0])).badInput(); }

    /** The directory's files and their bytes, to show that nothing was added, removed or changed. */
    private static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted().toList())
                if (Files.isRegularFile(p)) m.put(dir.relativize(p).toString(), java.util.Arrays.toString(Files.readAllBytes(p)));
        }
        return m;
    }

    @Test void promptFilesThatAreNotUtf8AreRefusedWithTheLine(@TempDir Path dir) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("latin1", "a shirt\nun caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        files.put("utf16", "a shirt\n".getBytes(StandardCharsets.UTF_16));
        files.put("utf16le", "a shirt\n".getBytes(StandardCharsets.UTF_16LE));
        files.put("cesu8", new byte[]{'o', 'k', '\n', (byte) 0xED, (byte) 0xA0, (byte) 0xBD, (byte) 0xED, (byte) 0xB1, (byte) 0x9F});
        byte[] binary = new byte[1000];
        new java.util.Random(7).nextBytes(binary);
        files.put("binary", binary);
        for (var e : files.entrySet()) {
            Path f = Files.write(dir.resolve(e.getKey() + ".txt"), e.getValue());
            String line = bad(sample(dir.resolve("out"), "--prompts", f.toString()));
            assertTrue(line.contains(f.toString()) && line.contains("line "), e.getKey() + ": " + line);
        }
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test void tooManyImagesAreRefusedAtOnceNamingTheFlagThatRaisesTheCap(@TempDir Path dir) throws IOException {
        assertTrue(bad(sample(dir.resolve("o"), "--n", "1000000000")).contains("--max-images"));
        Path many = Files.writeString(dir.resolve("many.txt"), "a shirt\n".repeat(10_001));
        assertTrue(bad(sample(dir.resolve("o"), "--prompts", many.toString())).contains("10001 images"));
        assertTrue(bad(sample(dir.resolve("o"), "--n", "3", "--max-images", "2")).contains("--max-images 3"));
        assertTrue(bad(List.of("eval", "--model", tinyModel.toString(), "--steps", "1,2", "--n", "6000", "--out", dir.resolve("o").toString()))
                .contains("--max-images"));
        assertFalse(Files.exists(dir.resolve("o")));
    }

    @Test void badNumbersAreRefusedNamingTheOption(@TempDir Path dir) {
        for (String g : List.of("NaN", "Infinity", "-Infinity", "-1", "1e9", "101"))
            assertTrue(bad(sample(dir.resolve("o"), "--guidance", g)).contains("--guidance"), g);
        assertTrue(bad(List.of("eval", "--model", tinyModel.toString(), "--steps", "1", "--guidance", "NaN", "--out", dir.resolve("o").toString()))
                .contains("--guidance"));
        assertTrue(bad(sample(dir.resolve("o"), "--n", "-1")).contains("--n"));
        assertTrue(bad(sample(dir.resolve("o"), "--n", "99999999999")).contains("--n"));
        assertTrue(bad(sample(dir.resolve("o"), "--max-images", "0")).contains("--max-images"));
        assertFalse(Files.exists(dir.resolve("o")));
    }

    @Test void noCommandPrintsTheUsageAndAnUnknownOneOneLineBothExiting2() {
        CliRun none = CliRun.of();
        assertEquals(2, none.code());
        assertTrue(none.err().contains("Usage: add4j") && none.err().contains("sample"), none.err());
        String line = CliRun.of("smaple", "--n", "4").badInput();
        assertTrue(line.contains("unknown command 'smaple'") && line.contains("sample"), line);
    }

    @Test void everyCommandRefusesAnOutThatIsAFileOrANonEmptyDirectoryAndTouchesNothing(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("mine.txt"), "keep me");
        Path full = Files.createDirectories(dir.resolve("full"));
        Files.writeString(full.resolve("notes.txt"), "mine");
        Files.writeString(full.resolve("img-0000.png"), "not written by add4j");
        Map<String, String> before = snapshot(dir);
        String f = file.toString(), d = full.toString();
        List<List<String>> cases = List.of(
                sample(file), sample(full),
                List.of("eval", "--model", tinyModel.toString(), "--steps", "1", "--n", "10", "--out", f),
                List.of("eval", "--model", tinyModel.toString(), "--steps", "1", "--n", "10", "--out", d),
                List.of("eval", "--sanity", "--n", "10", "--out", d),
                List.of("train-teacher", "--data", "embedded", "--size", "tiny", "--steps", "1", "--out", f),
                List.of("train-teacher", "--data", "embedded", "--size", "tiny", "--steps", "1", "--out", d),
                List.of("distill", "--steps", "1", "--out", d),
                List.of("distill", "--steps", "1", "--out", f),
                List.of("train-eval-net", "--data", "embedded", "--size", "tiny", "--steps", "1", "--out", f),
                List.of("train-eval-net", "--data", "embedded", "--size", "tiny", "--steps", "1", "--out", d),
                List.of("train-features", "--data", "embedded", "--steps", "1", "--out", f),
                List.of("average", "--out", f, tinyModel.toString(), tinyModel.toString()),
                List.of("demo", "--iterations", "1", "--out", d),
                List.of("demo", "--iterations", "1", "--out", f),
                List.of("probe-disc", "--out", d),
                List.of("probe-disc", "--out", f),
                List.of("ablate", "--rows", "c", "--iterations", "1", "--out", d),
                List.of("ablate", "--rows", "c", "--iterations", "1", "--out", f));
        for (List<String> c : cases) {
            String line = bad(c);
            assertTrue(line.contains("--out") || line.contains("twice"), c + ": " + line);
        }
        assertEquals(before, snapshot(dir), "nothing added, removed or changed");
    }

    @Test void forceWritesIntoANonEmptyDirectoryAndLeavesOtherFilesAlone(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("notes.txt"), "mine");
        CliRun r = CliRun.of(sample(dir, "--force", "--prompt", "=HYPERLINK(\"http://x\")").toArray(new String[0]));
        assertEquals(0, r.code(), r.err());
        assertEquals("mine", Files.readString(dir.resolve("notes.txt")));
        assertEquals("img-0000.png,\"'=HYPERLINK(\"\"http://x\"\")\",0,1", Files.readAllLines(dir.resolve("samples.csv")).get(1),
                "a prompt that a spreadsheet would run as a formula is written as text");
    }

    @Test void csvCellsThatASpreadsheetWouldRunAreQuotedAsText() {
        for (String p : List.of("=1+1", "+1", "-1", "@SUM(A1)"))
            assertEquals("'" + p, SampleCommand.csvField(p));
        assertEquals("a sneaker", SampleCommand.csvField("a sneaker"));
        assertEquals("\"a, b\"", SampleCommand.csvField("a, b"));
    }

    @Test void hostileModelFilesGiveOneLineThroughTheTool(@TempDir Path dir) {
        Path zeroHeads = dir.resolve("heads0.safetensors"), nan = dir.resolve("nan.safetensors");
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            var c = SafeTensors.read(tinyModel);
            Map<String, String> meta = new LinkedHashMap<>(c.metadata());
            meta.put(ModelFile.UNET, meta.get(ModelFile.UNET).replace("\"heads\":2", "\"heads\":0"));
            SafeTensors.write(zeroHeads, c.tensors(), meta, SafeTensors.Dtype.F16);
            c.tensors().get("conv_out.bias").fill_(new Scalar(Double.NaN));
            SafeTensors.write(nan, c.tensors(), c.metadata(), SafeTensors.Dtype.F16);
        }
        String line = bad(List.of("sample", "--model", zeroHeads.toString(), "--prompt", "x", "--device", "cpu", "--out", dir.resolve("o").toString()));
        assertTrue(line.contains("heads0.safetensors") && line.contains("heads"), line);
        line = bad(List.of("sample", "--model", nan.toString(), "--prompt", "x", "--device", "cpu", "--out", dir.resolve("o").toString()));
        assertTrue(line.contains("nan.safetensors") && line.contains("conv_out.bias"), line);
        assertFalse(Files.exists(dir.resolve("o")));
    }
}
