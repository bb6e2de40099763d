package dev.add4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.TorchRuntime;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.train.TeacherTrainer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Kills {@code add4j train-teacher} (the tiny network, in a child JVM) with SIGKILL at random moments, resumes it
 * each time, and checks that the finished run is bit for bit an uninterrupted one (issue 23). Every other kill
 * lands inside a checkpoint save: the child pauses after each stage of a save ({@code -Dadd4j.checkpoint.pause-ms})
 * and is killed in one of them, the stages taken in turn from a random one; the others land at a random time after
 * the first step.
 * <p>CI runs {@code add4j.kills} kills (default 3); {@code mvn test -Dtest=KillResumeTest -Dadd4j.kills=20} runs 20
 * and prints one line per kill and a summary. {@code -Dadd4j.kill-seed=N} repeats a run's random choices.
 */
class KillResumeTest {
    static final int KILLS = Integer.getInteger("add4j.kills", 3);
    static final long STEPS = 12, PAUSE_MS = 100;
    static final int SIGKILLED = 128 + 9;                                // a process's exit code after SIGKILL
    static final String[] STAGES = {"tensors.safetensors", "optimizer.pt", "manifest.json", "previous checkpoint set aside",
            "new checkpoint in place"};
    @TempDir static Path dir;
    static Path captions;

    @BeforeAll static void captions() {
        TorchRuntime.init();
        captions = dir.resolve("captions.safetensors");                // made once (MiniLM), read by every child
        new CaptionedImages(FashionMnist.load("embedded", true), captions, new Device("cpu")).close();
    }

    static List<String> args(Path out, long steps, boolean resume) {
        List<String> a = new ArrayList<>(List.of("train-teacher", "--data", "embedded", "--size", "tiny", "--steps", Long.toString(steps),
                "--batch", "4", "--lr", "1e-3", "--warmup", "2", "--checkpoint-every", "2", "--seed", "3", "--out", out.toString(),
                "--caption-cache", captions.toString(), "--threads", "1"));
        if (resume) a.add("--resume");
        return a;
    }

    @Test void aRunKilledAtRandomMomentsResumesToTheUninterruptedRunBitForBit() throws Exception {
        long t0 = System.nanoTime();
        Path straight = dir.resolve("straight");
        CliRun ref = CliRun.of(args(straight, STEPS, false).toArray(String[]::new));
        assertEquals(0, ref.code(), ref.err());
        long seed = Long.getLong("add4j.kill-seed", System.nanoTime());
        Random rnd = new Random(seed);
        int kills = 0, runs = 0, insideSaves = 0, firstStage = rnd.nextInt(STAGES.length);
        while (kills < KILLS) {
            Path run = dir.resolve("killed-" + runs++);
            while (true) {                                               // the segments of one run, until it finishes
                boolean inSave = kills % 2 == 0;
                String stage = STAGES[(firstStage + kills / 2) % STAGES.length];
                int occurrence = 1 + rnd.nextInt(2), delay = inSave ? rnd.nextInt((int) PAUSE_MS) : rnd.nextInt(1500);
                try (Child c = Child.start(args(run, STEPS, Files.exists(run.resolve("config.json"))))) {
                    if (kills < KILLS) {
                        if (inSave) c.killAt("checkpoint: " + stage, occurrence, delay);
                        else c.killAt("step ", 1, delay);
                    }
                    int code = c.waitFor();
                    if (code != SIGKILLED) {                             // finished before the moment came
                        assertEquals(0, code, c.output());
                        break;
                    }
                    kills++;
                    if (inSave) insideSaves++;
                    System.out.printf("KillResumeTest: kill %d of %d (%s + %d ms): %s%n", kills, KILLS,
                            inSave ? "in a save, after '" + stage + "' #" + occurrence : "after the first step", delay, leftIn(run));
                }
            }
            assertSameRun(straight, run);
        }
        assertOptimiserStatesMatch(straight, dir.resolve("killed-0"));
        System.out.printf("KillResumeTest: %d of %d kills resumed to the uninterrupted run bit for bit (%d inside a save, %d runs, "
                + "seed %d, %.0f s)%n", kills, KILLS, insideSaves, runs, seed, (System.nanoTime() - t0) / 1e9);
    }

    /** What a kill left: the checkpoint directories and their steps. */
    static String leftIn(Path run) throws IOException {
        List<String> found = new ArrayList<>();
        for (String d : new String[]{Checkpoint.DIR, Checkpoint.DIR + ".new", Checkpoint.DIR + ".old"}) {
            Path mf = run.resolve(d).resolve(Checkpoint.MANIFEST);
            if (Files.exists(mf)) found.add(d + "/ at step " + Json.tree(Files.readString(mf)).get("step").asLong());
            else if (Files.exists(run.resolve(d))) found.add(d + "/ without a manifest");
        }
        return found.isEmpty() ? "no checkpoint yet" : String.join(", ", found);
    }

    /** The same weights and EMA (the checkpoint's tensors, the model file), and the same log: each step once, the same losses. */
    static void assertSameRun(Path want, Path got) throws IOException {
        JsonNode a = manifest(want), b = manifest(got);
        assertEquals(a.get("step"), b.get("step"));
        assertEquals(a.get("files").get(Checkpoint.TENSORS), b.get("files").get(Checkpoint.TENSORS), "weights and EMA, bit for bit");
        assertEquals(losses(want), losses(got), "the log, each step once");
        try (var scope = new PointerScope()) {
            Map<String, Tensor> x = SafeTensors.read(want.resolve(TeacherTrainer.MODEL)).tensors(),
                    y = SafeTensors.read(got.resolve(TeacherTrainer.MODEL)).tensors();
            assertEquals(x.keySet(), y.keySet());
            x.forEach((k, v) -> assertTrue(torch.equal(v, y.get(k)), k));
        }
        try (Stream<Path> left = Files.list(got)) {
            assertEquals(List.of(Checkpoint.DIR, "config.json", TeacherTrainer.MODEL, TeacherTrainer.LOG),
                    left.map(p -> p.getFileName().toString()).sorted().toList(), "nothing else left behind");
        }
    }

    /**
     * libtorch keys an optimiser's archive by tensor addresses, so two equal states differ as bytes; two more steps
     * from each give the same weights only when they are the same.
     */
    static void assertOptimiserStatesMatch(Path want, Path got) throws IOException {
        for (Path run : List.of(want, got)) assertEquals(0, CliRun.of(args(run, STEPS + 2, true).toArray(String[]::new)).code());
        assertEquals(manifest(want).get("files").get(Checkpoint.TENSORS), manifest(got).get("files").get(Checkpoint.TENSORS));
    }

    static JsonNode manifest(Path run) throws IOException {
        return Json.tree(Files.readString(run.resolve(Checkpoint.DIR).resolve(Checkpoint.MANIFEST)));
    }

    static Map<Long, Double> losses(Path run) throws IOException {
        Map<Long, Double> out = new TreeMap<>();
        for (String line : Files.readAllLines(run.resolve(TeacherTrainer.LOG))) {
            JsonNode r = Json.tree(line);
            assertNull(out.put(r.get("step").asLong(), r.get("loss").asDouble()), "step " + r.get("step") + " twice");
        }
        return out;
    }

    @Test void resumingAFinishedRunSaysSoAndWritesNothing() throws IOException {
        Path run = dir.resolve("finished");
        assertEquals(0, CliRun.of(args(run, 2, false).toArray(String[]::new)).code());
        Map<String, String> before = snapshot(run);
        CliRun again = CliRun.of(args(run, 2, true).toArray(String[]::new));
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("already finished (step 2 of 2); nothing written"), again.out());
        assertFalse(again.out().contains("wrote"), again.out());
        assertEquals(before, snapshot(run));
    }

    /** Every file under {@code dir} with its size, bytes' hash and modification time. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList())
                out.put(dir.relativize(f).toString(), java.util.Arrays.hashCode(Files.readAllBytes(f)) + "@"
                        + Files.getLastModifiedTime(f).toMillis() + "/" + Files.size(f));
        }
        return out;
    }

    /** {@code add4j} in a child JVM on the test's class path, its output read line by line. */
    static final class Child implements AutoCloseable {
        private static final String END = "\u0000end";
        private static long lastStart;
        private final Process p;
        private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        private final StringBuilder all = new StringBuilder();

        private Child(Process p) {
            this.p = p;
            Thread reader = new Thread(() -> {
                try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = in.readLine()) != null; ) {
                        synchronized (all) { all.append(l).append('\n'); }
                        lines.add(l);
                    }
                } catch (IOException ignored) {
                    // the process was killed
                }
                lines.add(END);
            });
            reader.setDaemon(true);
            reader.start();
        }

        static Child start(List<String> args) throws IOException, InterruptedException {
            long wait = lastStart + 1000 - System.currentTimeMillis();     // one JVM start a second at most
            if (wait > 0) Thread.sleep(wait);
            lastStart = System.currentTimeMillis();
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
            List<String> cmd = new ArrayList<>(List.of(java, "-Xmx768m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                    "-Dadd4j.checkpoint.pause-ms=" + PAUSE_MS, "-cp", cp, Main.class.getName()));
            cmd.addAll(args);
            return new Child(new ProcessBuilder(cmd).redirectErrorStream(true).start());
        }

        /** Kills the process (SIGKILL) {@code delayMs} after the {@code n}th line that starts with {@code prefix}, if it runs then. */
        void killAt(String prefix, int n, long delayMs) throws InterruptedException {
            for (int seen = 0; seen < n; ) {
                String l = lines.poll(300, TimeUnit.SECONDS);
                assertNotNull(l, "no output for 300 s:\n" + output());
                if (l.equals(END)) return;
                if (l.startsWith(prefix)) seen++;
            }
            Thread.sleep(delayMs);
            p.destroyForcibly();
        }

        int waitFor() throws InterruptedException {
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "still running after 300 s:\n" + output());
            return p.exitValue();
        }

        String output() {
            synchronized (all) { return all.toString(); }
        }

        @Override public void close() { p.destroyForcibly(); }
    }
}
