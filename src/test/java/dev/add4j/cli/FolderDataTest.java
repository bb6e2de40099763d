package dev.add4j.cli;

import dev.add4j.data.FolderFixture;
import dev.add4j.data.ImageFolder;
import dev.add4j.features.Vit;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code --data DIR} with a user's captioned image folder, end to end through the command line. */
class FolderDataTest {
    @TempDir Path tmp;

    private static CliRun trainTeacher(Path data, Path out) {
        return CliRun.of("train-teacher", "--data", data.toString(), "--size", "tiny", "--steps", "3", "--batch", "8",
                "--device", "cpu", "--threads", "1", "--out", out.toString());
    }

    /** A tiny feature ViT for RGB images of {@code size} px. */
    private Path vit(int channels, int size) {
        Path f = tmp.resolve("vit-c" + channels + "-" + size + ".safetensors");
        try (var scope = new PointerScope()) { new Vit(new Vit.Config(size, channels, 8, 32, 4, 2, 2)).save(f, Map.of()); }
        return f;
    }

    @Test void aFolderOf200CaptionedPngsTrainsATinyColourTeacherConvertedOnceThatDistilsAndSamplesRgb() throws IOException {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 200);
        Path out = tmp.resolve("run");
        CliRun r = trainTeacher(data, out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("converting 200 images of " + data), r.out());
        assertTrue(r.out().contains("180 training images"), r.out());                  // every tenth image is in test
        try (var scope = new PointerScope()) {
            ModelFile.Loaded m = ModelFile.load(out.resolve("teacher.safetensors"), new Device("cpu"));
            assertFalse(m.isStudent());
            assertArrayEquals(new long[]{2, 3, 32, 32}, m.model().imageShape(2));        // a folder is RGB by default
            assertTrue(m.metadata().get("add4j.data").startsWith("captioned folder " + data + " (train: 180 images, "), m.metadata().get("add4j.data"));
        }
        Path cache = data.resolve(ImageFolder.CACHE_DIR);
        try (Stream<Path> files = Files.list(cache)) {
            assertEquals(List.of("captions-train-minilm.safetensors", "images-c3-32px-crop-ffffff.safetensors"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }

        // a second run reads both caches: no conversion, and the same first loss (same images, same embeddings)
        CliRun again = trainTeacher(data, tmp.resolve("run2"));
        assertEquals(0, again.code(), again.err());
        assertFalse(again.out().contains("converting"), again.out());
        assertEquals(firstLoss(out), firstLoss(tmp.resolve("run2")));

        // the teacher distils into a student on the same folder; the class-bound options say why they cannot run
        // the discriminator's ViT trained on the same folder: RGB, its first captions as the k-NN's classes
        Path vit = tmp.resolve("features.safetensors");
        CliRun feats = CliRun.of("train-features", "--data", data.toString(), "--arch", "tiny", "--steps", "2", "--batch", "8",
                "--checkpoint-every", "0", "--device", "cpu", "--threads", "1", "--out", vit.toString());
        assertEquals(0, feats.code(), feats.err());
        assertTrue(feats.out().contains("3 x 32 px), 180 training images"), feats.out());
        // the fixture's test images (every tenth) have captions no training image has: no classes to measure
        assertTrue(feats.out().contains("k-NN accuracy left out: no test image has a first caption of the training split"), feats.out());
        try (var scope = new PointerScope()) {
            assertEquals(new Vit.Config(32, 3, 8, 32, 4, 2, 2), Vit.load(vit).config());
        }
        List<String> distill = List.of("distill", "--preset", "paper", "--data", data.toString(), "--teacher",
                out.resolve("teacher.safetensors").toString(), "--features", vit.toString(), "--steps", "2",
                "--sample-every", "0", "--checkpoint-every", "1", "--device", "cpu", "--threads", "1");
        Path student = tmp.resolve("student");
        String line = run(distill, "--batch", "4", "--eval-every", "1", "--out", student.toString()).badInput();
        assertTrue(line.contains("is a captioned folder: name an eval net trained on it with --eval-net"), line);
        line = run(distill, "--class-groups", "--batch", "8", "--out", student.toString()).badInput();
        assertTrue(line.contains("a captioned folder has no classes, which --class-groups needs"), line);
        assertFalse(Files.exists(student));
        CliRun d = run(distill, "--batch", "4", "--out", student.toString());
        assertEquals(0, d.code(), d.err());
        assertFalse(d.out().contains("converting"), d.out());
        assertTrue(Files.isRegularFile(student.resolve("student.safetensors")));

        // the student makes RGB PNGs, read back with three channels
        Path samples = tmp.resolve("samples");
        CliRun s = CliRun.of("sample", "--model", student.resolve("student.safetensors").toString(), "--prompt", "a red circle",
                "--n", "2", "--steps", "1", "--device", "cpu", "--out", samples.toString());
        assertEquals(0, s.code(), s.err());
        for (String f : List.of("img-0000.png", "img-0001.png", "grid.png")) {
            var img = dev.add4j.io.Images.read(samples.resolve(f));
            assertEquals(3, img.getRaster().getNumBands(), f);
            assertFalse(img.getColorModel().hasAlpha(), f);
        }
        var one = dev.add4j.io.Images.read(samples.resolve("img-0000.png"));
        assertEquals(List.of(32, 32), List.of(one.getWidth(), one.getHeight()));
        // image-to-image from one of them: an RGB input at the student's shape
        CliRun i2i = CliRun.of("sample", "--model", student.resolve("student.safetensors").toString(), "--prompt", "a blue square",
                "--init-image", samples.resolve("img-0000.png").toString(), "--strength", "0.5", "--steps", "2", "--device", "cpu",
                "--out", tmp.resolve("i2i").toString());
        assertEquals(0, i2i.code(), i2i.err());
        assertEquals(3, dev.add4j.io.Images.read(tmp.resolve("i2i/img-0000.png")).getRaster().getNumBands());
    }

    @Test void aFolderAt64PxGreyTrainsATeacherWhoseSamplesAre64Px() throws IOException {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 20);
        Path out = tmp.resolve("run64");
        CliRun r = CliRun.of("train-teacher", "--data", data.toString(), "--size", "tiny", "--channels", "1", "--image-size", "64",
                "--steps", "2", "--batch", "4", "--device", "cpu", "--threads", "1", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        try (var scope = new PointerScope()) {
            ModelFile.Loaded m = ModelFile.load(out.resolve("teacher.safetensors"), new Device("cpu"));
            assertEquals("64", m.metadata().get(ModelFile.IMAGE_SIZE));
            assertArrayEquals(new long[]{5, 1, 64, 64}, m.model().imageShape(5));
        }
        Path samples = tmp.resolve("samples64");
        CliRun s = CliRun.of("sample", "--model", out.resolve("teacher.safetensors").toString(), "--prompt", "a red circle",
                "--n", "2", "--steps", "2", "--device", "cpu", "--out", samples.toString());
        assertEquals(0, s.code(), s.err());
        var img = dev.add4j.io.Images.read(samples.resolve("img-0001.png"));
        assertEquals(List.of(64, 64), List.of(img.getWidth(), img.getHeight()));
        String line;

        // eval's eval net and reference are Fashion-MNIST's: a 64 px model is refused in one line, nothing written
        line = CliRun.of("eval", "--model", out.resolve("teacher.safetensors").toString(), "--steps", "1", "--n", "10", "--data", "embedded",
                "--device", "cpu", "--out", tmp.resolve("eval").toString()).badInput();
        assertTrue(line.endsWith("teacher.safetensors is 1 x 64 px; eval measures against Fashion-MNIST's 1 x 32 px images only"), line);
        assertFalse(Files.exists(tmp.resolve("eval")));
        // a 64 px teacher refuses 32 px features and Fashion-MNIST, in one line each, before anything is written
        Path student = tmp.resolve("student");
        line = CliRun.of("distill", "--data", data.toString(), "--teacher", out.resolve("teacher.safetensors").toString(),
                "--features", vit(1, 32).toString(), "--steps", "1", "--batch", "4", "--device", "cpu", "--out", student.toString()).badInput();
        assertTrue(line.contains("--features " + vit(1, 32) + " is 1 x 32 px but the teacher " + out.resolve("teacher.safetensors")
                + " is 1 x 64 px: channels and image size must agree"), line);
        line = CliRun.of("distill", "--data", "embedded", "--teacher", out.resolve("teacher.safetensors").toString(),
                "--features", vit(1, 64).toString(), "--steps", "1", "--batch", "4", "--device", "cpu", "--out", student.toString()).badInput();
        assertTrue(line.contains("Fashion-MNIST is 1 channel at 32 px"), line);
        assertFalse(Files.exists(student));
        // with 64 px features it distils (the paper's ViT discriminator and DiffAugment at 64 px) into a 64 px student
        CliRun d = CliRun.of("distill", "--preset", "paper", "--data", data.toString(), "--teacher", out.resolve("teacher.safetensors").toString(),
                "--features", vit(1, 64).toString(), "--steps", "1", "--batch", "4", "--sample-every", "0", "--device", "cpu",
                "--threads", "1", "--out", student.toString());
        assertEquals(0, d.code(), d.err());
        try (var scope = new PointerScope()) {
            assertArrayEquals(new long[]{1, 1, 64, 64}, ModelFile.load(student.resolve("student.safetensors"), new Device("cpu")).model().imageShape(1));
        }
        // Fashion-MNIST is 1 x 32 px: another shape for it is refused
        line = CliRun.of("train-teacher", "--data", "embedded", "--size", "tiny", "--channels", "3", "--steps", "1",
                "--device", "cpu", "--out", tmp.resolve("rgb-fmnist").toString()).badInput();
        assertTrue(line.contains("Fashion-MNIST is 1 channel at 32 px; --channels and --image-size are for a captioned folder"), line);
        line = CliRun.of("train-teacher", "--data", data.toString(), "--size", "tiny", "--channels", "2", "--steps", "1",
                "--device", "cpu", "--out", tmp.resolve("two").toString()).badInput();
        assertTrue(line.contains("--channels: expected 1 or 3, got 2"), line);
        line = CliRun.of("train-teacher", "--data", data.toString(), "--size", "tiny", "--image-size", "33", "--steps", "1",
                "--device", "cpu", "--out", tmp.resolve("odd").toString()).badInput();
        assertTrue(line.contains("--image-size: image size must be a multiple of 2"), line);
        assertFalse(Files.exists(tmp.resolve("rgb-fmnist")) || Files.exists(tmp.resolve("two")) || Files.exists(tmp.resolve("odd")));
    }

    private static CliRun run(List<String> args, String... more) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of(more));
        return CliRun.of(a.toArray(String[]::new));
    }

    private static double firstLoss(Path run) throws IOException {
        return Json.tree(Files.readAllLines(run.resolve("train-log.jsonl")).get(0)).get("loss").asDouble();
    }

    @Test void supervisedFeaturesOnAFolderUseItsCaptionsAsClassesOrSayWhyNot() throws IOException {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 60);
        // a test split whose captions the training split has too (the fixture's every tenth image has its own): i % 7 == 3
        Path csv = data.resolve("captions.csv");
        Files.writeString(csv, String.join("\n", Files.readAllLines(csv).stream().map(l -> {
            var m = java.util.regex.Pattern.compile("img-(\\d{3})\\.png").matcher(l);
            return m.find() ? l.replaceAll(",(train|test)$", Integer.parseInt(m.group(1)) % 7 == 3 ? ",test" : ",train") : l;
        }).toList()) + "\n");
        Path out = tmp.resolve("sup.safetensors");
        List<String> args = List.of("train-features", "--data", data.toString(), "--objective", "supervised", "--arch", "tiny",
                "--steps", "1", "--batch", "8", "--checkpoint-every", "0", "--device", "cpu", "--threads", "1", "--out", out.toString());
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("k-NN accuracy (k=20, 51 train -> 9 test): "), r.out());        // 20 first captions as classes
        assertTrue(Files.isRegularFile(out));
        // 8 images have 8 different captions: not classes, said in one line, nothing written
        Path few = FolderFixture.write(tmp.resolve("few"), 10);
        Path out2 = tmp.resolve("sup2.safetensors");
        List<String> a2 = new ArrayList<>(args);
        a2.set(2, few.toString());
        a2.set(a2.size() - 1, out2.toString());
        String line = CliRun.of(a2.toArray(String[]::new)).badInput();
        assertTrue(line.contains("--objective supervised on " + few + ": 9 images have 9 distinct first captions, not classes"), line);
        assertFalse(Files.exists(out2));
    }

    @Test void theEmbeddedEmojiAreAFolderOfGoogleAndTwitterPicturesThatATeacherTrainsOn() throws IOException {
        dev.add4j.data.ImageFolder f = dev.add4j.data.ImageFolder.ofOption("embedded-emoji");
        assertEquals("train 600, test 80", f.splitCounts());
        assertTrue(f.files().stream().allMatch(n -> n.startsWith("images/google/") || n.startsWith("images/twitter/")), "the two styles licensed for it");
        assertTrue(Files.readString(f.dir().resolve("LICENSES.md")).contains("Apache License 2.0"));
        assertEquals(f.dir(), dev.add4j.data.ImageFolder.ofOption("embedded-emoji").dir(), "copied out of the jar once");
        Path out = tmp.resolve("emoji-teacher");
        CliRun t = CliRun.of("train-teacher", "--data", "embedded-emoji", "--size", "tiny", "--steps", "1", "--batch", "8",
                "--device", "cpu", "--threads", "1", "--out", out.toString());
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("600 training images"), t.out());
        assertTrue(Files.isRegularFile(out.resolve("teacher.safetensors")));
    }

    @Test void aBadFolderGivesOneLineNamingTheFileAndNothingIsWritten() throws IOException {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 20);
        FolderFixture.png(data.resolve("images/stray.png"), new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB));
        Path out = tmp.resolve("run");
        String line = trainTeacher(data, out).badInput();
        assertTrue(line.startsWith("error: " + data.resolve("images/stray.png") + ": no caption"), line);
        Files.delete(data.resolve("images/stray.png"));

        Files.writeString(data.resolve("images/img-002.png"), "GIF89a, not a PNG");
        line = trainTeacher(data, out).badInput();
        assertTrue(line.startsWith("error: " + data.resolve("images/img-002.png") + ": not a PNG or JPEG"), line);
        assertFalse(Files.exists(out));
        assertFalse(Files.exists(data.resolve(ImageFolder.CACHE_DIR)));
    }

    @Test void trainEvalNetOnAFolderWithoutATestSplitSaysSoInOneLineAndWritesNothing() {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 4);                  // images 0..3: all in train
        Path out = tmp.resolve("net.safetensors");
        String line = CliRun.of("train-eval-net", "--data", data.toString(), "--size", "tiny", "--steps", "1", "--device", "cpu",
                "--out", out.toString()).badInput();
        assertTrue(line.contains(data.resolve("captions.csv") + ": no image in split 'test' (train 4, test 0)"), line);
        assertFalse(Files.exists(out));
    }
}
