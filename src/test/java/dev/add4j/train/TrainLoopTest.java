package dev.add4j.train;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
}
