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

    @Test void aFolderOf200CaptionedPngsTrainsATinyTeacherAndIsConvertedOnce() throws IOException {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 200);
        Path out = tmp.resolve("run");
        CliRun r = trainTeacher(data, out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("converting 200 images of " + data), r.out());
        assertTrue(r.out().contains("180 training images"), r.out());                  // every tenth image is in test
        try (var scope = new PointerScope()) {
            ModelFile.Loaded m = ModelFile.load(out.resolve("teacher.safetensors"), new Device("cpu"));
            assertFalse(m.isStudent());
            assertTrue(m.metadata().get("add4j.data").startsWith("captioned folder " + data + " (train: 180 images, "), m.metadata().get("add4j.data"));
        }
        Path cache = data.resolve(ImageFolder.CACHE_DIR);
        try (Stream<Path> files = Files.list(cache)) {
            assertEquals(List.of("captions-train-minilm.safetensors", "images-c1-32px-crop-ffffff.safetensors"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }

        // a second run reads both caches: no conversion, and the same first loss (same images, same embeddings)
        CliRun again = trainTeacher(data, tmp.resolve("run2"));
        assertEquals(0, again.code(), again.err());
        assertFalse(again.out().contains("converting"), again.out());
        assertEquals(firstLoss(out), firstLoss(tmp.resolve("run2")));

        // the teacher distils into a student on the same folder; the class-bound options say why they cannot run
        Path vit = tmp.resolve("vit.safetensors");
        try (var scope = new PointerScope()) { new Vit(Vit.Config.tiny()).save(vit, Map.of()); }
        List<String> distill = List.of("distill", "--preset", "paper", "--data", data.toString(), "--teacher",
                out.resolve("teacher.safetensors").toString(), "--features", vit.toString(), "--steps", "2",
                "--sample-every", "0", "--checkpoint-every", "1", "--device", "cpu", "--threads", "1");
        Path student = tmp.resolve("student");
        String line = run(distill, "--batch", "4", "--eval-every", "1", "--out", student.toString()).badInput();
        assertTrue(line.contains("a captioned folder has no classes, which --eval-every's measures"), line);
        line = run(distill, "--class-groups", "--batch", "8", "--out", student.toString()).badInput();
        assertTrue(line.contains("a captioned folder has no classes, which --class-groups needs"), line);
        assertFalse(Files.exists(student));
        CliRun d = run(distill, "--batch", "4", "--out", student.toString());
        assertEquals(0, d.code(), d.err());
        assertFalse(d.out().contains("converting"), d.out());
        assertTrue(Files.isRegularFile(student.resolve("student.safetensors")));
    }

    private static CliRun run(List<String> args, String... more) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of(more));
        return CliRun.of(a.toArray(String[]::new));
    }

    private static double firstLoss(Path run) throws IOException {
        return Json.tree(Files.readAllLines(run.resolve("train-log.jsonl")).get(0)).get("loss").asDouble();
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

    @Test void aCommandThatReadsOnlyFashionMnistSaysSoForAFolder() {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 4);
        Path out = tmp.resolve("net.safetensors");
        String line = CliRun.of("train-eval-net", "--data", data.toString(), "--size", "tiny", "--steps", "1", "--device", "cpu",
                "--out", out.toString()).badInput();
        assertTrue(line.contains(data + ": a captioned image folder; this command reads Fashion-MNIST only"), line);
        assertFalse(Files.exists(out));
    }
}
