package dev.add4j.train;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainLoopTest {
    @Test void aNonFiniteLossStopsTheRunWithoutWritingACheckpoint(@TempDir Path dir) {
        List<Long> saved = new ArrayList<>();
        var o = new TrainLoop.Options(10, 2, 3, 0, dir.resolve("log.jsonl"));
        var e = assertThrows(Add4jException.class, () -> TrainLoop.run(0, o,
                s -> Map.of("loss", s == 4 ? Double.NaN : 1.0), saved::add, new PrintStream(OutputStream.nullOutputStream())));
        assertEquals(List.of(3L), saved, "only the checkpoint before the NaN");
        assertTrue(e.getMessage().contains("loss is NaN at step 5") && e.getMessage().contains("(step 3)"), e.getMessage());
    }

    @Test void rateAndEtaCountTheStepsSinceTheLastProgressLineNotAOneOffFirstStep(@TempDir Path dir) throws Exception {
        long[] clock = {0};
        TrainLoop.Step step = s -> {                     // step 0: 1000 s of setup (the warm-up's pairs); the rest 2 s each
            clock[0] += (s == 0 ? 1000 : 2) * 1_000_000_000L;
            return Map.of("loss", 1.0);
        };
        var text = new ByteArrayOutputStream();
        var o = new TrainLoop.Options(20, 5, 0, 0, dir.resolve("log.jsonl"));
        assertEquals(20, TrainLoop.run(0, o, step, s -> {}, new PrintStream(text, true), () -> clock[0]));
        String[] lines = text.toString().split("\n");
        assertEquals(4, lines.length, text.toString());
        assertTrue(lines[0].contains("0.00 it/s"), lines[0]);                 // 5 steps in 1008 s
        assertTrue(lines[1].contains("| 0.50 it/s | eta 20s"), lines[1]);     // 5 steps in 10 s, 10 steps left
        var records = java.nio.file.Files.readAllLines(dir.resolve("log.jsonl"));
        assertTrue(records.get(2).contains("\"it_per_s\":0.5,") && records.get(2).contains("\"elapsed_s\":1028.0"), records.get(2));
    }
}
