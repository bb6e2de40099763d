package dev.add4j.train;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.Checkpoint;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class TrainLoopTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A run directory with nothing in its checkpoint but the step: each save's step goes to {@code saved}. */
    static RunDir dir(Path d, long steps, List<Long> saved) {
        var spec = new RunDir.Spec(d, "test", "a test run", Map.of("steps", steps), steps, new Checkpoint.Parts(Map.of(), Map.of()),
                new Device("cpu"), List.of("log.jsonl"), null);
        return RunDir.open(spec, false, false, c -> {}, saved::add);
    }

    static TrainLoop.Options options(long logEvery, long checkpointEvery, int maxRestarts, Path log) {
        return new TrainLoop.Options(logEvery, checkpointEvery, 0, maxRestarts, log);
    }

    @Test void aNonFiniteLossStopsTheRunWithoutWritingACheckpoint(@TempDir Path dir) {
        List<Long> saved = new ArrayList<>();
        var loop = new TrainLoop(List.of(Stage.of("test", 10, s -> Map.of("loss", s == 4 ? Double.NaN : 1.0))))
                .saving(dir(dir, 10, saved)).console(line -> {});
        var e = assertThrows(Add4jException.class, () -> loop.run(options(2, 3, 0, dir.resolve("log.jsonl"))));
        assertEquals(List.of(3L), saved, "only the checkpoint before the NaN");
        assertTrue(e.getMessage().contains("loss is NaN at step 5") && e.getMessage().contains("(step 3)"), e.getMessage());
    }

    @Test void aSporadicNonFiniteLossRestartsFromTheLastCheckpointAndTheLogKeepsEachStepOnce(@TempDir Path dir) throws Exception {
        List<Long> saved = new ArrayList<>();
        Set<Long> failed = new HashSet<>();
        List<Long> ran = new ArrayList<>();
        var loop = new TrainLoop(List.of(Stage.of("test", 10, s -> {
            ran.add(s);
            return Map.of("loss", failed.add(s) && s == 4 ? Double.NaN : s);   // NaN the first time only
        }))).saving(dir(dir, 10, saved)).console(line -> {});
        assertEquals(10, loop.run(options(1, 3, 2, dir.resolve("log.jsonl"))));
        assertEquals(List.of(0L, 3L, 6L, 9L, 10L), saved, "a checkpoint at the start, so that a restart always has one");
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), ran, "steps 4 and 5 again, from the checkpoint of 3");
        assertEquals(1, loop.restarts().size());
        assertTrue(loop.restarts().get(0).startsWith("loss is NaN at step 5: resumed from the checkpoint of step 3 (restart 1 of at most 2)"),
                loop.restarts().get(0));
        List<String> log = Files.readAllLines(dir.resolve("log.jsonl"));
        assertEquals(10, log.size(), "each step once: " + log);
        for (int i = 0; i < 10; i++) assertTrue(log.get(i).startsWith("{\"step\":" + (i + 1) + ",\"loss\":" + i + ".0,"), log.get(i));
    }

    @Test void aNonFiniteLossThatComesBackStopsTheRunAfterItsRestarts(@TempDir Path dir) {
        List<Long> saved = new ArrayList<>();
        var loop = new TrainLoop(List.of(Stage.of("test", 10, s -> Map.of("loss", s == 4 ? Double.POSITIVE_INFINITY : 1.0))))
                .saving(dir(dir, 10, saved)).console(line -> {});
        var e = assertThrows(TrainLoop.NonFinite.class, () -> loop.run(options(1, 3, 2, null)));
        assertEquals(2, loop.restarts().size());
        assertEquals("loss is Infinity at step 5", e.what());
        assertTrue(e.getMessage().contains("after 2 restarts") && e.getMessage().contains("(step 3)"), e.getMessage());
    }

    @Test void stagesRunInOrderEachFinishedAfterItsLastStepAndHooksSkipAStageWhoseModelIsFrozen(@TempDir Path dir) {
        List<String> events = new ArrayList<>();
        var loop = new TrainLoop(List.of(
                Stage.of("a", 2, s -> { events.add("a" + s); return Map.of(); }).finishing(() -> events.add("end a")),
                Stage.of("none", 0, s -> { throw new AssertionError("an empty stage runs no step"); }).finishing(() -> events.add("end none")),
                Stage.of("b", 2, s -> { events.add("b" + s); return Map.of(); }).modelFrozen(),
                Stage.of("c", 1, s -> { events.add("c" + s); return Map.of(); }).finishing(() -> events.add("end c"))))
                .every(1, done -> events.add("hook " + done));
        List<String> lines = new ArrayList<>();
        assertEquals(5, loop.console(lines::add).run(options(5, 0, 0, null)));
        assertEquals(List.of("a0", "hook 1", "a1", "end a", "end none", "hook 2", "b2", "b3", "c4", "end c", "hook 5"), events);
        assertEquals(List.of("stage a: steps 0..2", "stage b: steps 2..4", "stage c: steps 4..5"),
                lines.stream().filter(l -> l.startsWith("stage ")).toList(), "a line as each stage begins");
    }

    @Test void rateAndEtaCountTheStepsSinceTheLastProgressLineNotAOneOffFirstStep(@TempDir Path dir) throws Exception {
        long[] clock = {0};
        Stage.Step step = s -> {                         // step 0: 1000 s of setup (the warm-up's pairs); the rest 2 s each
            clock[0] += (s == 0 ? 1000 : 2) * 1_000_000_000L;
            return Map.of("loss", 1.0);
        };
        List<String> lines = new ArrayList<>();
        var loop = new TrainLoop(List.of(Stage.of("test", 20, step))).console(lines::add);
        assertEquals(20, loop.run(options(5, 0, 0, dir.resolve("log.jsonl")), () -> clock[0]));
        assertEquals(4, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("0.00 it/s"), lines.get(0));                 // 5 steps in 1008 s
        assertTrue(lines.get(1).contains("| 0.50 it/s | eta 20s"), lines.get(1));     // 5 steps in 10 s, 10 steps left
        var records = Files.readAllLines(dir.resolve("log.jsonl"));
        assertTrue(records.get(2).contains("\"it_per_s\":0.5,") && records.get(2).contains("\"elapsed_s\":1028.0"), records.get(2));
    }
}
