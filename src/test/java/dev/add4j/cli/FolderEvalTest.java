package dev.add4j.cli;

import dev.add4j.data.FolderFixture;
import dev.add4j.eval.EvalNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code train-eval-net} and {@code eval} on a user's captioned colour folder, end to end through the command line. */
class FolderEvalTest {
    @TempDir Path tmp;

    private static CliRun trainTeacher(Path data, Path out, String... extra) {
        var args = new java.util.ArrayList<>(java.util.List.of("train-teacher", "--data", data.toString(), "--size", "tiny",
                "--steps", "2", "--batch", "8", "--device", "cpu", "--threads", "1", "--out", out.toString()));
        args.addAll(java.util.List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    @Test void aFolderTrainsAnRgbEvalNetThatEvaluatesItsTeacherAgainstTheTestSplitAndRefusesAGreyModelInOneLine() throws Exception {
        Path data = FolderFixture.write(tmp.resolve("shapes"), 200);
        Path teacher = tmp.resolve("teacher");
        CliRun t = trainTeacher(data, teacher);
        assertEquals(0, t.code(), t.err());

        Path net = tmp.resolve("evalnet.safetensors");
        CliRun e = CliRun.of("train-eval-net", "--data", data.toString(), "--size", "tiny", "--steps", "3", "--batch", "16",
                "--log-every", "1", "--device", "cpu", "--threads", "1", "--out", net.toString());
        assertEquals(0, e.code(), e.err());
        // the first captions of the 180 training images are 18 classes; no test image (all purple squares and rings) has one
        assertTrue(e.out().contains("3 x 32 px, 180 training / 20 test images, 18 classes"), e.out());
        assertTrue(e.out().contains("test accuracy left out: no test image has a first caption of the training split"), e.out());
        assertTrue(e.out().contains("caption retrieval accuracy "), e.out());
        try (var scope = new PointerScope()) {
            EvalNet.Loaded l = EvalNet.load(net, new Device("cpu"));
            assertEquals(3, l.channels());
            assertEquals(32, l.imageSize());
            assertEquals(18, l.classNames().size());
            assertTrue(l.classNames().contains("a red circle"), l.classNames().toString());
        }

        Path report = tmp.resolve("eval");
        CliRun ev = CliRun.of("eval", "--model", teacher.resolve("teacher.safetensors").toString(), "--data", data.toString(),
                "--eval-net", net.toString(), "--steps", "1", "--n", "20", "--batch", "10", "--device", "cpu", "--threads", "1",
                "--out", report.toString());
        assertEquals(0, ev.code(), ev.err());
        String metrics = Files.readString(report.resolve("metrics.json"));
        assertTrue(metrics.contains("captioned folder " + data + " (test: 20 images"), metrics);
        assertTrue(metrics.contains("\"clip_score\""), metrics);
        assertTrue(Files.isRegularFile(report.resolve("grid-steps-1.png")));
        assertTrue(ev.out().contains("class accuracy: none (NaN)"), ev.out());

        // distill's evaluations during training measure against the same test split and keep the best 1-step student
        Path vit = tmp.resolve("features.safetensors");
        CliRun feats = CliRun.of("train-features", "--data", data.toString(), "--arch", "tiny", "--steps", "1", "--batch", "8",
                "--checkpoint-every", "0", "--device", "cpu", "--threads", "1", "--out", vit.toString());
        assertEquals(0, feats.code(), feats.err());
        Path student = tmp.resolve("student");
        CliRun d = CliRun.of("distill", "--preset", "paper", "--data", data.toString(), "--teacher", teacher.resolve("teacher.safetensors").toString(),
                "--features", vit.toString(), "--eval-net", net.toString(), "--steps", "2", "--batch", "4", "--eval-every", "2",
                "--eval-n", "7", "--sample-every", "0", "--checkpoint-every", "0", "--device", "cpu", "--threads", "1", "--out", student.toString());
        assertEquals(0, d.code(), d.err());
        assertTrue(d.err().contains("reference statistics: reusing"), "the test split's statistics, as eval made them: " + d.err());
        String evalLog = Files.readString(student.resolve("eval.jsonl"));
        assertTrue(evalLog.contains("\"fid\""), evalLog);
        assertTrue(Files.isRegularFile(student.resolve("student-best.safetensors")));

        // a grey teacher of the same folder against the RGB eval net: one line, nothing written
        Path grey = tmp.resolve("grey");
        CliRun g = trainTeacher(data, grey, "--channels", "1");
        assertEquals(0, g.code(), g.err());
        Path refused = tmp.resolve("refused");
        CliRun bad = CliRun.of("eval", "--model", grey.resolve("teacher.safetensors").toString(), "--data", data.toString(),
                "--eval-net", net.toString(), "--steps", "1", "--n", "20", "--device", "cpu", "--threads", "1",
                "--out", refused.toString());
        assertEquals(2, bad.code(), bad.err());
        String line = bad.err().strip();
        assertFalse(line.contains("\n"), line);
        assertTrue(line.contains("is 1 x 32 px but --eval-net " + net + " was trained on 3 x 32 px images"), line);
        assertFalse(Files.exists(refused));

        // an eval net for a folder is never the Fashion-MNIST default; and its data must be a folder's at its shape
        CliRun noNet = CliRun.of("eval", "--model", teacher.resolve("teacher.safetensors").toString(), "--data", data.toString(),
                "--steps", "1", "--n", "20", "--device", "cpu", "--out", refused.toString());
        assertEquals(2, noNet.code(), noNet.err());
        assertTrue(noNet.err().contains("is a captioned folder: name an eval net trained on it with --eval-net"), noNet.err());
        Path out2 = tmp.resolve("net2.safetensors");
        CliRun fm = CliRun.of("train-eval-net", "--data", "embedded", "--channels", "3", "--size", "tiny", "--steps", "1",
                "--out", out2.toString());
        assertEquals(2, fm.code(), fm.err());
        assertTrue(fm.err().contains("Fashion-MNIST is 1 channel at 32 px"), fm.err());
        assertFalse(Files.exists(out2));
    }
}
