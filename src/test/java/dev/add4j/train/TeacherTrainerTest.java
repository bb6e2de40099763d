package dev.add4j.train;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.dist.Ranks;
import dev.add4j.io.Json;
import dev.add4j.nn.UNet;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class TeacherTrainerTest {
    @TempDir static Path shared;
    static CaptionedImages data;

    @BeforeAll static void load() {
        TorchRuntime.init();
        // the caption cache is written once here (MiniLM runs once) and read by nothing else
        data = new CaptionedImages(FashionMnist.load("embedded", true), shared.resolve("captions.safetensors"), new Device("cpu"));
    }

    @AfterAll static void close() { data.close(); }

    static TeacherConfig cfg(long steps) {
        return new TeacherConfig(steps, 8, 1e-3, 2, 0.99, 0.1, 1.0, 3, UNet.Config.tiny(), 32);
    }

    static TeacherTrainer trainer(long steps, Path dir, boolean resume) {
        return new TeacherTrainer(cfg(steps), data, dir, resume, Map.of("add4j.test", "TeacherTrainerTest"));
    }

    @Test void resumeGivesTheSameNextLossAsAnUninterruptedRun(@TempDir Path dir) {
        List<Double> straight = new ArrayList<>();
        try (TeacherTrainer t = trainer(6, dir.resolve("straight"), false)) {
            for (long s = 0; s < 6; s++) straight.add(t.step(s).get("loss"));
        }
        Path split = dir.resolve("split");
        try (TeacherTrainer t = trainer(6, split, false)) {
            for (long s = 0; s < 3; s++) assertEquals(straight.get((int) s), t.step(s).get("loss"), 1e-6, "same run, step " + (s + 1));
            t.save(3);
        }
        try (TeacherTrainer t = trainer(6, split, true)) {
            assertEquals(3, t.startStep());
            for (long s = 3; s < 6; s++) {
                double loss = t.step(s).get("loss");
                assertEquals(straight.get((int) s), loss, 1e-5, "loss at step " + (s + 1) + " after resuming at 3");
            }
        }
        assertTrue(Files.isRegularFile(split.resolve(TeacherTrainer.MODEL)));
        assertEquals(cfg(6), Json.read(split.resolve(TeacherTrainer.CONFIG), TeacherConfig.class));
    }

    /** Every file under a directory with its bytes and modification time. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                FileTime m = Files.getLastModifiedTime(f);
                out.put(dir.relativize(f).toString(), Arrays.hashCode(Files.readAllBytes(f)) + "@" + m.toMillis() + "/" + Files.size(f));
            }
        }
        return out;
    }

    @Test void refusingToStartANewRunInADirectoryThatHoldsOneLeavesItsFilesUnchanged(@TempDir Path dir) throws IOException {
        try (TeacherTrainer t = trainer(2, dir, false)) {
            t.step(0);
            t.save(1);
        }
        Map<String, String> before = snapshot(dir);
        assertTrue(before.keySet().containsAll(List.of("checkpoint/manifest.json", "checkpoint/optimizer.pt", TeacherTrainer.MODEL,
                TeacherTrainer.CONFIG)), before.toString());
        var e = assertThrows(Add4jException.class, () -> trainer(2, dir, false));
        assertTrue(e.getMessage().contains("already holds a training run") && e.getMessage().contains("--resume"), e.getMessage());
        assertEquals(before, snapshot(dir));
    }

    @Test void aResumeDropsTheLogsRecordsPastTheCheckpointAndALineAKillCutShort(@TempDir Path dir) throws IOException {
        try (TeacherTrainer t = trainer(6, dir, false)) {
            t.step(0);
            t.step(1);
            t.save(2);
        }
        Path log = dir.resolve(TeacherTrainer.LOG);
        Files.writeString(log, "{\"step\":1,\"loss\":1.0}\n{\"step\":2,\"loss\":0.9}\n{\"step\":3,\"loss\":0.8}\n{\"step\":4,\"lo");
        try (TeacherTrainer t = trainer(6, dir, true)) {
            assertEquals(2, t.startStep());
        }
        assertEquals(List.of("{\"step\":1,\"loss\":1.0}", "{\"step\":2,\"loss\":0.9}"), Files.readAllLines(log));
    }

    @Test void aRunStoppedBeforeItsFirstCheckpointResumesFromStepZero(@TempDir Path dir) {
        trainer(6, dir, false).close();                                 // config.json, no checkpoint: a kill came first
        try (TeacherTrainer t = trainer(6, dir, true)) {
            assertEquals(0, t.startStep());
        }
    }

    @Test void resumingADirectoryWithoutACheckpointIsRefused(@TempDir Path dir) {
        var e = assertThrows(Add4jException.class, () -> trainer(2, dir, true));
        assertTrue(e.getMessage().contains("nothing to resume"), e.getMessage());
    }

    @Test void nativeMemoryStaysFlatOver300TeacherSteps(@TempDir Path dir) throws IOException {
        // resident memory from the loop's own log, after a 100-step warm-up and at the end
        Path log = dir.resolve("log.jsonl");
        try (TeacherTrainer t = trainer(300, dir, false)) {
            long done = t.loop().console(line -> {}).run(new TrainLoop.Options(100, 0, 0, 0, log));
            assertEquals(300, done);
        }
        List<String> lines = Files.readAllLines(log);
        assertEquals(3, lines.size(), "one record every 100 steps");
        double[] rss = new double[3];
        for (int i = 0; i < 3; i++) {
            var rec = Json.tree(lines.get(i));
            assertEquals(100L * (i + 1), rec.get("step").asLong());
            assertTrue(Double.isFinite(rec.get("loss").asDouble()));
            rss[i] = rec.get("rss_mib").asDouble();
        }
        System.out.printf("TeacherTrainerTest: RSS after step 100 %.1f MiB, 200 %.1f MiB, 300 %.1f MiB (growth %.1f MiB)%n",
                rss[0], rss[1], rss[2], rss[2] - rss[0]);
        assertTrue(rss[0] > 0, "RSS is measured (Linux /proc)");
        assertTrue(rss[2] - rss[0] < 50, "RSS grew by " + (rss[2] - rss[0]) + " MiB from step 100 to 300");
    }

    /**
     * Relative tolerance of a data-parallel run's losses against one process's: float32 sums taken in another order
     * (each rank's mean, then the mean of the ranks), through 20 Adam steps; measured here: 9e-8.
     */
    static final double RANKS_TOLERANCE = 1e-5;

    @Test void twoRanksOfHalfTheBatchGiveOneProcesssLossesAndTheRunResumesOnEitherCount(@TempDir Path dir) throws Exception {
        int steps = 20;
        List<Double> one = new ArrayList<>();
        try (TeacherTrainer t = trainer(steps, dir.resolve("one"), false)) {
            for (long s = 0; s < steps; s++) one.add(t.step(s).get("loss"));
        }
        Path run = dir.resolve("ranks");
        // steps 0-9 on 2 ranks (saved by rank 0 alone), 10-14 resumed on 1 process, 15-19 resumed on 2 ranks again
        List<List<Double>> first = Ranks.run(2, g -> losses(run, steps, 0, 10));
        List<Double> middle = losses(run, steps, 10, 15);
        List<List<Double>> last = Ranks.run(2, g -> losses(run, steps, 15, 20));
        assertEquals(first.get(0), first.get(1), "every rank logs the same averaged loss");
        assertEquals(last.get(0), last.get(1));
        List<Double> ranks = new ArrayList<>(first.get(0));
        ranks.addAll(middle);
        ranks.addAll(last.get(0));
        double worst = 0;
        for (int s = 0; s < steps; s++) worst = Math.max(worst, Math.abs(ranks.get(s) - one.get(s)) / Math.abs(one.get(s)));
        System.out.printf("TeacherTrainerTest 2 ranks x 4 against 1 x 8: worst relative loss difference over %d steps %.2e%n", steps, worst);
        for (int s = 0; s < steps; s++)
            assertEquals(one.get(s), ranks.get(s), RANKS_TOLERANCE * Math.abs(one.get(s)), "loss at step " + (s + 1));
        assertTrue(Files.isRegularFile(run.resolve(TeacherTrainer.MODEL)));
    }

    /** Steps [from, to) of the run in {@code dir} (resumed unless from is 0), saved at the end; their losses. */
    static List<Double> losses(Path dir, long steps, long from, long to) {
        List<Double> out = new ArrayList<>();
        try (TeacherTrainer t = trainer(steps, dir, from > 0)) {
            assertEquals(from, t.startStep());
            for (long s = from; s < to; s++) out.add(t.step(s).get("loss"));
            t.save(to);
        }
        return out;
    }
}
