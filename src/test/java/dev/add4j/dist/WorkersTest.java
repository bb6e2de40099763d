package dev.add4j.dist;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class WorkersTest {
    record Run(int code, String out, String err, double seconds) {}

    static Run run(String... scripts) throws InterruptedException {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        List<Workers.Worker> ws = new java.util.ArrayList<>();
        for (int r = 0; r < scripts.length; r++) ws.add(new Workers.Worker(r, List.of("sh", "-c", scripts[r]), Map.of("RANK", "" + r)));
        long t0 = System.nanoTime();
        int code = Workers.run(ws, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), Duration.ofSeconds(5));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), (System.nanoTime() - t0) / 1e9);
    }

    @Test void everyWorkersOutputComesThroughUnderItsRankAndAllFinishingIsSuccess() throws Exception {
        Run r = run("echo hello from $RANK", "echo hello from $RANK; echo oops >&2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("[rank 0] hello from 0\n") && r.out().contains("[rank 1] hello from 1\n"), r.out());
        assertEquals("[rank 1] oops\n", r.err());
    }

    @Test void aWorkerThatFailsTakesTheOthersDownAtOnceAndIsNamed() throws Exception {
        // rank 0 and 2 would wait a minute, as ranks wait at an all-reduce for a dead peer
        Run r = run("sleep 60", "echo last words; exit 3", "sleep 60");
        assertEquals(3, r.code());
        assertTrue(r.seconds() < 20, "no hang: " + r.seconds() + " s");
        assertTrue(r.out().contains("[rank 1] last words"), r.out());
        assertTrue(r.err().contains("add4j launch: rank 1 exited with code 3; stopping ranks 0, 2\n"), r.err());
    }

    @Test void aKilledWorkerIsNamedWithItsSignal() throws Exception {
        Run r = run("kill -9 $$", "sleep 60");
        assertEquals(137, r.code());
        assertTrue(r.err().contains("add4j launch: rank 0 was killed (signal 9, exit code 137); stopping rank 1"), r.err());
        assertTrue(r.seconds() < 20, "no hang: " + r.seconds() + " s");
    }
}
