package dev.add4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.TorchRuntime;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.Json;
import dev.add4j.train.TeacherTrainer;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j launch} with real worker JVMs on loopback. */
class LaunchCommandTest {
    @TempDir static Path dir;
    static Path captions;

    @BeforeAll static void setUp() {
        TorchRuntime.init();
        captions = dir.resolve("captions.safetensors");                // made once (MiniLM), read by every worker
        new CaptionedImages(FashionMnist.load("embedded", true), captions, new Device("cpu")).close();
        System.setProperty(LaunchCommand.JAVA_OPTIONS, "-Xmx768m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
    }

    @AfterAll static void tearDown() { System.clearProperty(LaunchCommand.JAVA_OPTIONS); }

    static List<String> teacher(Path out, int batch) {
        List<String> a = new ArrayList<>(List.of("train-teacher", "--data", "embedded", "--size", "tiny", "--steps", "4", "--batch", "" + batch,
                "--lr", "1e-3", "--warmup", "2", "--checkpoint-every", "2", "--seed", "3", "--out", out.toString(),
                "--caption-cache", captions.toString()));
        return a;
    }

    static List<Double> losses(Path run) throws Exception {
        List<Double> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve(TeacherTrainer.LOG))) {
            JsonNode n = Json.tree(l);
            out.add(n.get("loss").asDouble());
        }
        return out;
    }

    @Test void twoWorkersTrainTheRunOneProcessWouldAndRankZeroAloneWritesIt() throws Exception {
        Path one = dir.resolve("one"), two = dir.resolve("two");
        CliRun single = CliRun.of(teacher(one, 4).toArray(String[]::new));
        assertEquals(0, single.code(), single.err());
        List<String> args = new ArrayList<>(List.of("launch", "--nproc", "2"));
        args.addAll(teacher(two, 4));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("[rank 0] add4j: 2 ranks joined at 127.0.0.1:"), r.err());
        assertTrue(r.out().contains("[rank 0] teacher:") && r.out().contains("[rank 0] wrote "), r.out());
        for (String line : List.of("[rank 1] teacher:", "[rank 1] step ", "[rank 1] wrote"))
            assertFalse(r.out().contains(line), "rank 1 prints no header, progress or file:\n" + r.out());
        List<Double> want = losses(one), got = losses(two);
        assertEquals(want.size(), got.size(), "one log record per log step, written once");
        for (int i = 0; i < want.size(); i++) assertEquals(want.get(i), got.get(i), 1e-5 * Math.abs(want.get(i)), "logged loss " + i);
        assertTrue(Files.isRegularFile(two.resolve(TeacherTrainer.MODEL)));
    }

    /**
     * add4j eval on 2 worker JVMs: each samples and embeds 10 of the 20 images of a tiny model; the row equals one
     * process's, rank 0 alone writes metrics.json, the grid and the reference cache (the eval net's copy for the
     * launch has none yet, so the ranks compute the real side themselves).
     */
    @Test void twoWorkersEvaluateAsOneProcessAndRankZeroAloneWrites() throws Exception {
        Path models = dir.resolve("eval-models"), other = dir.resolve("eval-models-2");
        Files.createDirectories(other);
        Path model = models.resolve("tiny.safetensors"), net = models.resolve("evalnet.safetensors"), net2 = other.resolve("evalnet.safetensors");
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {
            org.bytedeco.pytorch.global.torch.manual_seed(4);
            Files.createDirectories(models);
            dev.add4j.io.ModelFile.save(model, new dev.add4j.nn.UNet(dev.add4j.nn.UNet.Config.tiny()), "teacher", Map.of());
            new dev.add4j.eval.EvalNet(dev.add4j.eval.EvalNet.Config.tiny()).save(net, Map.of());
        }
        Files.copy(net, net2);
        Path one = dir.resolve("eval-one"), two = dir.resolve("eval-two");
        CliRun single = CliRun.of("eval", "--model", model.toString(), "--steps", "1", "--n", "20", "--batch", "10", "--data", "embedded",
                "--eval-net", net.toString(), "--caption-cache", captions.toString(), "--out", one.toString());
        assertEquals(0, single.code(), single.err());
        CliRun r = CliRun.of("launch", "--nproc", "2", "eval", "--model", model.toString(), "--steps", "1", "--n", "20", "--batch", "10",
                "--data", "embedded", "--eval-net", net2.toString(), "--caption-cache", captions.toString(), "--out", two.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("[rank 0] wrote ") && !r.out().contains("[rank 1] wrote"), r.out());
        JsonNode want = Json.tree(Files.readString(one.resolve("metrics.json"))).get("rows").get(0);
        JsonNode got = Json.tree(Files.readString(two.resolve("metrics.json"))).get("rows").get(0);
        assertEquals(want.get("n").asInt(), got.get("n").asInt());
        assertEquals(want.get("fid").asDouble(), got.get("fid").asDouble(), 1e-4 * Math.max(1, want.get("fid").asDouble()));
        assertEquals(want.get("class_accuracy").asDouble(), got.get("class_accuracy").asDouble());
        assertEquals(want.get("precision").asDouble(), got.get("precision").asDouble());
        assertEquals(want.get("recall").asDouble(), got.get("recall").asDouble());
        try (var files = Files.list(two)) {
            assertEquals(List.of("grid-steps-1.png", "metrics.json"), files.map(f -> f.getFileName().toString()).sorted().toList());
        }
        try (var files = Files.list(other)) {
            assertEquals(2, files.count(), "the eval net and one reference cache, written once");
        }
    }

    /**
     * add4j ablate on 2 worker JVMs: group c's two rows, each run data-parallel over both ranks (16 images as 2 x 8),
     * give one process's numbers; rank 0 alone prints the study's lines and writes its files.
     */
    @Test void twoWorkersRunAnAblationStudyAsOneProcessWouldAndRankZeroAloneWritesIt() throws Exception {
        Path models = dir.resolve("ablate-models");
        Files.createDirectories(models);
        Path teacher = models.resolve("teacher.safetensors"), vit = models.resolve("vit.safetensors"), net = models.resolve("evalnet.safetensors");
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {
            org.bytedeco.pytorch.global.torch.manual_seed(5);
            dev.add4j.io.ModelFile.save(teacher, new dev.add4j.nn.UNet(dev.add4j.nn.UNet.Config.tiny()), "teacher", Map.of());
            new dev.add4j.features.Vit(dev.add4j.features.Vit.Config.tiny()).save(vit, Map.of());
            new dev.add4j.eval.EvalNet(dev.add4j.eval.EvalNet.Config.tiny()).save(net, Map.of());
        }
        java.util.function.Function<Path, List<String>> study = out -> List.of("ablate", "--rows", "c", "--iterations", "2", "--batch", "16",
                "--n", "20", "--data", "embedded", "--teacher", teacher.toString(), "--features", vit.toString(), "--eval-net", net.toString(),
                "--device", "cpu", "--caption-cache", captions.toString(), "--out", out.toString());
        Path one = dir.resolve("ablate-one"), two = dir.resolve("ablate-two");
        CliRun single = CliRun.of(study.apply(one).toArray(String[]::new));
        assertEquals(0, single.code(), single.err());
        List<String> args = new ArrayList<>(List.of("launch", "--nproc", "2"));
        args.addAll(study.apply(two));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("[rank 0] ablate 1/2: ") && !r.out().contains("[rank 1] ablate "), r.out());
        dev.add4j.ablate.StudyDir d1 = new dev.add4j.ablate.StudyDir(one), d2 = new dev.add4j.ablate.StudyDir(two);
        for (String run : List.of(dev.add4j.ablate.Study.BASE, dev.add4j.ablate.Study.INIT_RANDOM)) {
            var want = Json.read(d1.result(run, 0), dev.add4j.ablate.RunResult.class).metrics();
            var got = Json.read(d2.result(run, 0), dev.add4j.ablate.RunResult.class).metrics();
            assertEquals(want.fid(), got.fid(), 1e-3 * want.fid(), run + ": FID of the 2-rank run");
            assertEquals(want.clipScore(), got.clipScore(), 1e-3 * Math.abs(want.clipScore()), run);
        }
        try (var files = Files.walk(two)) {
            List<String> names = files.map(f -> two.relativize(f).toString()).sorted().toList();
            try (var ref = Files.walk(one)) {
                assertEquals(ref.map(f -> one.relativize(f).toString()).sorted().toList(), names, "the same files, written once");
            }
        }
        List<String> both = new ArrayList<>(List.of("launch", "--nproc", "2"));
        both.addAll(study.apply(dir.resolve("ablate-3")));
        both.addAll(List.of("--parallel", "2"));
        CliRun p = CliRun.of(both.toArray(String[]::new));
        assertEquals(2, p.code(), p.out() + p.err());
        assertTrue(p.err().contains("--parallel 2: on 2 ranks each run is data-parallel over all of them, one run at a time"), p.err());
    }

    @Test void aWorkerThatFailsEndsTheJobWithItsExitCodeAndItsErrorLine() throws Exception {
        List<String> args = new ArrayList<>(List.of("launch", "--nproc", "2"));
        args.addAll(teacher(dir.resolve("bad"), 3));         // 3 images do not split over 2 ranks
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("error: --batch 3 does not split over 2 ranks: make it a multiple of 2"), r.err());
        assertTrue(r.err().matches("(?s).*add4j launch: rank [01] exited with code 2.*"), r.err());
    }

    @Test void badLaunchesAreRefusedInOneLine() {
        assertEquals("error: add4j launch sample: not a data-parallel command; those are ablate, distill, eval, train-eval-net, train-features and train-teacher",
                CliRun.of("launch", "--nproc", "2", "sample", "--out", "x").badInput());
        assertEquals("error: --node-rank must be in [0, 2), got 2", CliRun.of("launch", "--nproc", "1", "--nnodes", "2", "--node-rank", "2", "distill").badInput());
        assertEquals("error: --nproc must be >= 1, got 0", CliRun.of("launch", "--nproc", "0", "distill").badInput());
    }

    @Test void aCommandStartedAsARankOfAJobThatCannotBeDataParallelSaysSo() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "sample", "--model", "m.safetensors", "--prompt", "a shirt", "--out", dir.resolve("s").toString()).redirectErrorStream(true);
        pb.environment().putAll(Map.of("WORLD_SIZE", "2", "RANK", "1", "MASTER_ADDR", "127.0.0.1"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(2, p.waitFor(), out);
        assertEquals("error: add4j sample does not run on several ranks (WORLD_SIZE=2); the data-parallel commands are ablate, distill, eval, train-eval-net, train-features and train-teacher", out.strip());
    }
}
