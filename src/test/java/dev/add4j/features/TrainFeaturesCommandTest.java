package dev.add4j.features;

import dev.add4j.TorchRuntime;
import dev.add4j.cli.TrainFeaturesCommand;
import dev.add4j.io.SafeTensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainFeaturesCommandTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void aTinyRunWritesALoadableBackboneWithItsAccuracyAndCommand(@TempDir Path dir) {
        Path out = dir.resolve("vit.safetensors");
        StringWriter log = new StringWriter();
        CommandLine cl = new CommandLine(new TrainFeaturesCommand()).setOut(new PrintWriter(log));
        int code = cl.execute("--data", "embedded", "--arch", "tiny", "--steps", "3", "--batch", "8",
                "--knn-train", "200", "--knn-test", "100", "--device", "cpu", "--out", out.toString());
        assertEquals(0, code, log.toString());
        assertTrue(log.toString().contains("k-NN accuracy (k=20, 200 train -> 100 test)"), log.toString());

        Map<String, String> meta = SafeTensors.read(out).metadata();
        assertEquals("dino", meta.get("objective"));
        assertEquals("3", meta.get("steps"));
        double knn = Double.parseDouble(meta.get("knn_accuracy"));
        assertTrue(knn >= 0 && knn <= 1);
        assertTrue(meta.get("command").startsWith("add4j train-features --data embedded"), meta.get("command"));
        assertTrue(meta.get("train_config").contains("\"objective\" : \"DINO\""), meta.get("train_config"));
        assertEquals(Vit.Config.tiny(), Vit.load(out).config());
        assertFalse(SafeTensors.read(out).tensors().keySet().stream().anyMatch(k -> k.contains("last_layer")), "only the backbone is saved");
    }

    @Test void knnMeasuresASavedBackboneAsTheRunDidAndRefusesAMissingFile(@TempDir Path dir) {
        Path out = dir.resolve("vit.safetensors");
        run(out);
        double saved = Double.parseDouble(SafeTensors.read(out).metadata().get("knn_accuracy"));
        var r = dev.add4j.cli.CliRun.of("knn", "--data", "embedded", "--knn-train", "200", "--knn-test", "100",
                "--device", "cpu", "--threads", "1", out.toString());
        assertEquals(0, r.code(), r.err());
        var m = java.util.regex.Pattern.compile("k-NN accuracy ([0-9.]+)  \\(k=20, 200 train -> 100 test\\)").matcher(r.out());
        assertTrue(m.find(), r.out());
        // the run measured its float32 weights, the file holds float16 ones: a neighbour or two may change
        assertEquals(saved, Double.parseDouble(m.group(1)), 0.03, r.out());

        var missing = dev.add4j.cli.CliRun.of("knn", "--data", "embedded", dir.resolve("none.safetensors").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().strip().startsWith("error: ") && missing.err().strip().lines().count() == 1, missing.err());
    }

    @Test void anUnknownObjectiveFailsBeforeTrainingAndWritesNothing(@TempDir Path dir) {
        Path out = dir.resolve("vit.safetensors");
        CommandLine cl = new CommandLine(new TrainFeaturesCommand()).setErr(new PrintWriter(new StringWriter()));
        assertNotEquals(0, cl.execute("--data", "embedded", "--objective", "simclr", "--device", "cpu", "--out", out.toString()));
        assertFalse(Files.exists(out));
    }

    private static String run(Path out, String... extra) {
        StringWriter log = new StringWriter();
        CommandLine cl = new CommandLine(new TrainFeaturesCommand()).setOut(new PrintWriter(log)).setErr(new PrintWriter(log));
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--data", "embedded", "--arch", "tiny",
                "--stem", "conv", "--masked-tokens", "1", "--targets", "sinkhorn", "--koleo", "0.1", "--contrastive", "1",
                "--steps", "5", "--batch", "8", "--knn-train", "200", "--knn-test", "100", "--device", "cpu", "--threads", "1",
                "--out", out.toString()));
        args.addAll(java.util.List.of(extra));
        assertEquals(0, cl.execute(args.toArray(new String[0])), log.toString());
        return log.toString();
    }

    @Test void aRunStoppedByItsTimeLimitResumesToTheSameNetworkAsAnUninterruptedRun(@TempDir Path dir) {
        Path whole = dir.resolve("whole.safetensors"), parts = dir.resolve("parts.safetensors");
        run(whole);
        String first = run(parts, "--max-minutes", "1e-9", "--checkpoint-every", "0");        // stops after step 1
        assertTrue(first.contains("stopped after --max-minutes at step 1 of 5"), first);
        assertFalse(Files.exists(parts), "no backbone before the run is done");
        String second = run(parts, "--resume");
        assertTrue(second.contains("resumed at step 1 of 5"), second);
        var a = SafeTensors.read(whole).tensors();
        var b = SafeTensors.read(parts).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertTrue(a.get(k).equal(b.get(k)), k + " differs after resume");
    }

    @Test void aCheckpointIsNeitherOverwrittenWithoutForceNorResumedWithOtherFlags(@TempDir Path dir) {
        Path out = dir.resolve("vit.safetensors");
        run(out, "--max-minutes", "1e-9");
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new TrainFeaturesCommand()).setErr(new PrintWriter(err));
        assertNotEquals(0, cl.execute("--data", "embedded", "--arch", "tiny", "--steps", "5", "--batch", "8",
                "--device", "cpu", "--out", out.toString()));
        assertTrue(err.toString().contains("--resume"), err.toString());
        assertNotEquals(0, cl.execute("--data", "embedded", "--arch", "tiny", "--steps", "5", "--batch", "16",
                "--device", "cpu", "--out", out.toString(), "--resume"));
        assertTrue(err.toString().contains("other settings"), err.toString());
    }
}
