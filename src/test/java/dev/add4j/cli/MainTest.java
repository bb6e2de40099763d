package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.UNet;
import dev.add4j.train.TeacherConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class MainTest {
    @TempDir static Path shared;
    static Path tinyModel;

    @BeforeAll static void init() {
        TorchRuntime.init();
        tinyModel = shared.resolve("tiny.safetensors");
        try (var scope = new PointerScope()) {
            torch.manual_seed(0);
            ModelFile.save(tinyModel, new UNet(UNet.Config.tiny()), "teacher", Map.of("add4j.test", "MainTest"));
        }
    }

    static CliRun run(String... args) { return CliRun.of(args); }

    @Test void anUnknownOptionExitsWith2AndOneErrorLine() {
        String line = run("--bogus").badInput();
        assertTrue(line.contains("--bogus"), line);
        line = run("sample", "--model", tinyModel.toString(), "--prompt", "x", "--out", "o", "--no-such-option").badInput();
        assertTrue(line.contains("--no-such-option"), line);
    }

    @Test void sampleWithAMissingModelFileExitsWith2NamingTheFile(@TempDir Path dir) {
        Path missing = dir.resolve("missing.safetensors");
        String line = run("sample", "--model", missing.toString(), "--prompt", "a shirt", "--device", "cpu",
                "--out", dir.resolve("out").toString()).badInput();
        assertTrue(line.contains("missing.safetensors"), line);
        assertFalse(Files.exists(dir.resolve("out")), "nothing is written");
    }

    @Test void sampleWithATruncatedOrCorruptModelFileExitsWith2AndOneLine(@TempDir Path dir) throws IOException {
        byte[] good = Files.readAllBytes(tinyModel);
        Path truncated = Files.write(dir.resolve("truncated.safetensors"), Arrays.copyOf(good, good.length / 2));
        Path garbage = Files.write(dir.resolve("garbage.safetensors"), "this is not a model at all".getBytes(StandardCharsets.UTF_8));
        Path foreign = dir.resolve("foreign.safetensors");
        try (var scope = new PointerScope()) {
            SafeTensors.write(foreign, Map.of("w", torch.zeros(2)), Map.of(), SafeTensors.Dtype.F32);
        }
        for (Path bad : List.of(truncated, garbage, foreign)) {
            String line = run("sample", "--model", bad.toString(), "--prompt", "a shirt", "--device", "cpu",
                    "--out", dir.resolve("out").toString()).badInput();
            assertTrue(line.contains(bad.getFileName().toString()), line);
        }
    }

    @Test void sampleWithANonPositiveBatchExitsWith2NamingTheOption(@TempDir Path dir) {
        String line = run("sample", "--model", tinyModel.toString(), "--prompt", "a shirt", "--batch", "0", "--device", "cpu",
                "--out", dir.resolve("out").toString()).badInput();
        assertEquals("error: --batch must be >= 1, got 0", line);
        assertFalse(Files.exists(dir.resolve("out")), "nothing is written");
    }

    @Test void distillWithBadWarmUpInitOrCondOptionsExitsWith2NamingTheOptionAndWritesNothing(@TempDir Path dir) {
        Path out = dir.resolve("out");
        String line = run("distill", "--out", out.toString(), "--steps", "5", "--ode-warmup", "6").badInput();
        assertTrue(line.contains("--ode-warmup") && line.contains("--steps"), line);
        line = run("distill", "--out", out.toString(), "--steps", "50", "--ode-warmup", "5", "--ode-lr", "0").badInput();
        assertTrue(line.contains("--ode-lr"), line);
        line = run("distill", "--out", out.toString(), "--steps", "50", "--ode-warmup", "5", "--ode-teacher-steps", "0").badInput();
        assertTrue(line.contains("--ode-teacher-steps"), line);
        line = run("distill", "--out", out.toString(), "--init-from", dir.resolve("none.safetensors").toString()).badInput();
        assertTrue(line.contains("--init-from") && line.contains("none.safetensors"), line);
        line = run("distill", "--out", out.toString(), "--init-from", tinyModel.toString(), "--resume").badInput();
        assertTrue(line.contains("--init-from"), line);
        line = run("distill", "--out", out.toString(), "--cond", "text+image").badInput();
        assertTrue(line.contains("text+img-if-seen"), line);
        line = run("distill", "--out", out.toString(), "--max-restarts", "-1").badInput();
        assertTrue(line.contains("--max-restarts"), line);
        for (String dropped : List.of("--ode-feature-weight", "--ode-inputs")) {    // measured no better: dropped (models/README.md)
            line = run("distill", "--out", out.toString(), "--steps", "50", "--ode-warmup", "5", dropped, "1").badInput();
            assertTrue(line.contains(dropped), line);
        }
        line = run("distill", "--out", out.toString(), "--preset", "turbo").badInput();
        assertTrue(line.contains("--preset") && line.contains("paper"), line);
        line = run("distill", "--out", out.toString(), "--diffaugment", "colour,flip").badInput();
        assertTrue(line.contains("--diffaugment") && line.contains("cutout"), line);
        line = run("distill", "--out", out.toString(), "--diffaugment", "colour", "--no-diffaugment").badInput();
        assertTrue(line.contains("not both"), line);
        assertFalse(Files.exists(out), "nothing is written");
    }

    @Test void trainTeacherWithANonexistentDataDirectoryExitsWith2AndWritesNothing(@TempDir Path dir) {
        Path out = dir.resolve("run");
        String line = run("train-teacher", "--data", "/nonexistent", "--size", "tiny", "--steps", "1", "--device", "cpu",
                "--out", out.toString()).badInput();
        assertTrue(line.contains("/nonexistent"), line);
        assertFalse(Files.exists(out));
    }

    @Test void sampleIntoADirectoryThatHoldsSamplesExitsWith2AndLeavesTheCsvUnchanged(@TempDir Path dir) throws IOException {
        Path csv = Files.writeString(dir.resolve("samples.csv"), "file,prompt,seed,steps\nimg-0000.png,old,0,50\n");
        FileTime mtime = Files.getLastModifiedTime(csv);
        byte[] before = Files.readAllBytes(csv);
        String line = run("sample", "--model", tinyModel.toString(), "--prompt", "a shirt", "--n", "1", "--steps", "1",
                "--device", "cpu", "--out", dir.toString()).badInput();
        assertTrue(line.contains("samples.csv"), line);
        assertArrayEquals(before, Files.readAllBytes(csv));
        assertEquals(mtime, Files.getLastModifiedTime(csv));
        assertFalse(Files.exists(dir.resolve("img-0000.png")));
    }

    @Test void sampleWithATinyModelWritesTwoPngsAGridAndTheCsv(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("samples");
        CliRun r = run("sample", "--model", tinyModel.toString(), "--prompt", "a pair of trousers", "--n", "2",
                "--steps", "2", "--seed", "7", "--device", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        for (String png : List.of("img-0000.png", "img-0001.png")) {
            var img = Images.read(out.resolve(png));
            assertEquals(32, img.getWidth(), png);
            assertEquals(32, img.getHeight(), png);
        }
        assertTrue(Files.isRegularFile(out.resolve("grid.png")));
        assertEquals(List.of("file,prompt,seed,steps", "img-0000.png,a pair of trousers,7,2", "img-0001.png,a pair of trousers,8,2"),
                Files.readAllLines(out.resolve("samples.csv")));
    }

    /** A grey sketch of side {@code side}, written as {@code file} (PNG or JPEG by its extension). */
    static Path sketch(Path file, int side) throws IOException {
        var img = new java.awt.image.BufferedImage(side, side, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        for (int y = side / 4; y < 3 * side / 4; y++) for (int x = side / 4; x < 3 * side / 4; x++) img.getRaster().setSample(x, y, 0, 220);
        String f = file.toString().endsWith(".png") ? "png" : "jpeg";
        assertTrue(javax.imageio.ImageIO.write(img, f, file.toFile()));
        return file;
    }

    @Test void sampleFromADirectoryOfInitImagesWritesOneImagePerInputAndStrengthTheCsvColumnsAndAGridWithTheInputs(@TempDir Path dir) throws IOException {
        Path inputs = Files.createDirectory(dir.resolve("inputs"));
        sketch(inputs.resolve("a.png"), 64);
        sketch(inputs.resolve("b.jpg"), 20);
        Files.writeString(inputs.resolve("notes.txt"), "not an image: skipped");
        Path out = dir.resolve("samples");
        CliRun r = run("sample", "--model", tinyModel.toString(), "--prompt", "a bag", "--init-image", inputs.toString(),
                "--strength", "0,1", "--steps", "2", "--seed", "3", "--device", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("file,prompt,seed,steps,init_image,strength",
                "img-0000.png,a bag,3,2," + inputs.resolve("a.png") + ",0.0", "img-0001.png,a bag,4,2," + inputs.resolve("a.png") + ",1.0",
                "img-0002.png,a bag,5,2," + inputs.resolve("b.jpg") + ",0.0", "img-0003.png,a bag,6,2," + inputs.resolve("b.jpg") + ",1.0"),
                Files.readAllLines(out.resolve("samples.csv")));
        // strength 0 is the input at the model's size: the 64 px square averaged to 32 px
        var kept = Images.read(out.resolve("img-0000.png"));
        assertEquals(32, kept.getWidth());
        assertEquals(220, kept.getRaster().getSample(16, 16, 0));
        assertEquals(0, kept.getRaster().getSample(4, 4, 0));
        var grid = Images.read(out.resolve("grid.png"));                       // 2 rows: input, strength 0, strength 1
        assertEquals(3 * (64 + 2) + 2, grid.getWidth());
        assertEquals(2 * (64 + 2) + 2, grid.getHeight());
    }

    @Test void sampleWithABadInitImageOrStrengthExitsWith2AndOneLineAndWritesNothing(@TempDir Path dir) throws IOException {
        Path png = sketch(dir.resolve("s.png"), 32), out = dir.resolve("o");
        String[] base = {"sample", "--model", tinyModel.toString(), "--prompt", "a bag", "--device", "cpu", "--out", out.toString()};
        java.util.function.Function<String[], String> bad = extra -> {
            String[] args = Arrays.copyOf(base, base.length + extra.length);
            System.arraycopy(extra, 0, args, base.length, extra.length);
            return run(args).badInput().substring("error: ".length());
        };
        assertEquals("--strength needs --init-image (image-to-image)", bad.apply(new String[]{"--strength", "0.5"}));
        String line = bad.apply(new String[]{"--init-image", png.toString(), "--strength", "0.5", "--steps", "1"});
        assertTrue(line.startsWith("--strength 0.5 at --steps 1: steps x strength must be >= 1"), line);
        assertTrue(bad.apply(new String[]{"--init-image", png.toString(), "--strength", "half"}).startsWith("--strength: expected numbers"));
        assertTrue(bad.apply(new String[]{"--init-image", dir.resolve("none.png").toString()}).contains("no such file or directory"));
        Path text = Files.writeString(dir.resolve("fake.png"), "not a png");
        assertEquals(text + ": only PNG or JPEG images are accepted (the bytes are neither)",
                bad.apply(new String[]{"--init-image", text.toString(), "--steps", "2"}));
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test void trainTeacherTinyForThreeStepsWritesTheModelConfigAndLog(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("run");
        CliRun r = run("train-teacher", "--size", "tiny", "--steps", "3", "--batch", "4", "--data", "embedded",
                "--device", "cpu", "--caption-cache", dir.resolve("captions.safetensors").toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        for (String f : List.of("teacher.safetensors", "config.json", "train-log.jsonl"))
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        TeacherConfig cfg = Json.read(out.resolve("config.json"), TeacherConfig.class);
        assertEquals(3, cfg.steps());
        assertEquals(4, cfg.batch());
        assertEquals(UNet.Config.tiny(), cfg.unet());
        List<String> log = Files.readAllLines(out.resolve("train-log.jsonl"));
        assertEquals(3, Json.tree(log.get(log.size() - 1)).get("step").asLong());
        try (var scope = new PointerScope()) {
            ModelFile.Loaded m = ModelFile.load(out.resolve("teacher.safetensors"), new Device("cpu"));
            assertEquals("teacher", m.kind());
            assertEquals("3", m.metadata().get("add4j.steps"));
            assertTrue(m.metadata().get("add4j.command").startsWith("add4j train-teacher --size tiny"), m.metadata().get("add4j.command"));
        }
    }
}
