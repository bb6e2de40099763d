package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Layers;
import dev.add4j.nn.Module;
import dev.add4j.train.Optimizers;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A layer and a buffer, like the discriminator's heads. */
    static final class Net extends Module {
        Net() {
            child("lin", new Layers.Linear(3, 4));
            buffer("u", torch.randn(4));
        }
    }

    /** What a trainer would checkpoint: a network, its average and an Adam with state. */
    static final class Run implements AutoCloseable {
        final Net net = new Net(), ema = new Net();
        final Adam opt = Optimizers.adam(net.parameterVector(), 1e-2, 0.9, 0.999, 1e-8);
        final Checkpoint.Parts parts = new Checkpoint.Parts(Map.of("net", net, "ema", ema), Map.of("opt", opt));

        Run(long seed) {
            torch.manual_seed(seed);
            try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
                for (Module m : new Module[]{net, ema}) {
                    for (Tensor p : m.namedParameters().values()) p.copy_(torch.randn(dev.add4j.nn.Ops.shape(p)));
                    for (Tensor b : m.namedBuffers().values()) b.copy_(torch.randn(dev.add4j.nn.Ops.shape(b)));
                }
            }
        }

        /** {@code n} Adam steps on the sum of squares, so that the optimiser has state that changes. */
        void train(int n) {
            for (int i = 0; i < n; i++) {
                try (var scope = new PointerScope()) {
                    opt.zero_grad();
                    Tensor loss = torch.zeros(1);
                    for (Tensor p : net.namedParameters().values()) loss = loss.add(p.mul(p).sum());
                    loss.backward();
                    opt.step();
                }
            }
        }

        void save(Path dir, long step) { Checkpoint.save(dir, "test", step, Map.of("seed", 1), Map.of("note", "x"), parts); }

        @Override public void close() { opt.close(); }
    }

    static Map<String, Tensor> state(Run r) {
        Map<String, Tensor> s = new LinkedHashMap<>();
        r.net.namedParameters().forEach((k, v) -> s.put("net." + k, v.detach().clone()));
        r.ema.namedParameters().forEach((k, v) -> s.put("ema." + k, v.detach().clone()));
        r.net.namedBuffers().forEach((k, v) -> s.put("buf." + k, v.detach().clone()));
        return s;
    }

    static void assertSameState(Map<String, Tensor> want, Map<String, Tensor> got) {
        assertEquals(want.keySet(), got.keySet());
        want.forEach((k, v) -> assertTrue(torch.equal(v, got.get(k)), k));
    }

    static String oneLine(Add4jException e) {
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test void aRestoredRunContinuesBitForBitAsTheSavedOne(@TempDir Path dir) {
        Map<String, Tensor> straight;
        try (Run a = new Run(1)) {
            a.train(3);
            a.save(dir, 3);
            a.train(2);
            straight = state(a);
        }
        try (Run b = new Run(2)) {                                    // other weights, no optimiser state
            Checkpoint.Saved c = Checkpoint.read(dir, "test", b.parts, 10);
            assertEquals(3, c.step());
            assertEquals(Map.of("note", "x"), c.extra());
            assertEquals(1, Json.tree(Json.compact(c.config(Map.class))).get("seed").asInt());
            c.restore(b.parts, new Device("cpu"));
            b.train(2);                                               // Adam's moments came back too, or this differs
            assertSameState(straight, state(b));
        }
    }

    @Test void theSameStateAlwaysGivesTheSameBytes(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.train(2);
            a.save(dir.resolve("a"), 2);
            a.save(dir.resolve("b"), 2);
        }
        assertEquals(Files.readString(dir.resolve("a/checkpoint/manifest.json")), Files.readString(dir.resolve("b/checkpoint/manifest.json")));
    }

    @Test void aSaveReplacesThePreviousCheckpointAndLeavesNothingElse(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.save(dir, 1);
            a.train(1);
            Files.writeString(dir.resolve(".student.safetensors." + java.util.UUID.randomUUID() + ".tmp"), "what a kill left");
            a.save(dir, 2);
            assertEquals(2, Checkpoint.read(dir, "test", a.parts, 10).step());
        }
        try (var files = Files.list(dir)) {
            assertEquals(java.util.List.of("checkpoint"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    /** Each state a kill can leave a save in: the newest complete checkpoint is read, a half-written one ignored. */
    @Test void aSaveCutShortAtAnyStageLeavesOneCompleteCheckpoint(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.save(dir.resolve("done"), 4);
            a.train(1);
            a.save(dir.resolve("next"), 8);                           // a whole new checkpoint, to cut up
            Path run = dir.resolve("done"), next = dir.resolve("next/checkpoint");

            // killed while writing checkpoint.new: its manifest (written last) is missing
            copyTree(next, run.resolve(Checkpoint.NEW));
            Files.delete(run.resolve(Checkpoint.NEW).resolve(Checkpoint.MANIFEST));
            assertEquals(4, Checkpoint.read(run, "test", a.parts, 10).step());
            // killed after the manifest, before the renames: the new one is complete but not yet in place
            Files.copy(next.resolve(Checkpoint.MANIFEST), run.resolve(Checkpoint.NEW).resolve(Checkpoint.MANIFEST));
            assertEquals(4, Checkpoint.read(run, "test", a.parts, 10).step());
            // killed between the renames: only checkpoint.old/ (and a complete checkpoint.new/) are there
            Files.move(run.resolve(Checkpoint.DIR), run.resolve(Checkpoint.OLD));
            assertEquals(4, Checkpoint.read(run, "test", a.parts, 10).step());
            Checkpoint.read(run, "test", a.parts, 10).restore(a.parts, new Device("cpu"));
            Checkpoint.tidy(run);
            assertTrue(Files.exists(run.resolve(Checkpoint.OLD)), "the only complete checkpoint is kept");
            // the next save puts everything right
            a.save(run, 9);
            assertEquals(9, Checkpoint.read(run, "test", a.parts, 10).step());
            assertFalse(Files.exists(run.resolve(Checkpoint.OLD)) || Files.exists(run.resolve(Checkpoint.NEW)));
            // killed after the new checkpoint is in place, before the old one is deleted: a resume deletes it
            copyTree(next, run.resolve(Checkpoint.OLD));
            copyTree(next, run.resolve(Checkpoint.NEW));
            Checkpoint.tidy(run);
            assertFalse(Files.exists(run.resolve(Checkpoint.OLD)) || Files.exists(run.resolve(Checkpoint.NEW)));
            assertEquals(9, Checkpoint.read(run, "test", a.parts, 10).step());
        }
    }

    @Test void aMixOfTwoCheckpointsIsRefusedNamingTheFile(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.train(1);
            a.save(dir.resolve("early"), 20);
            a.train(1);
            a.save(dir, 40);
            Path opt = dir.resolve("checkpoint/opt.pt");
            Files.copy(dir.resolve("early/checkpoint/opt.pt"), opt, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            var e = assertThrows(Add4jException.class, () -> Checkpoint.read(dir, "test", a.parts, 100));
            assertTrue(oneLine(e).startsWith(opt + ": ") && e.getMessage().contains("cannot be resumed"), e.getMessage());
        }
    }

    @Test void damagedMissingOrEmptyPartsAreRefusedNamingTheFile(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.train(1);
            Map<String, Consumer<Path>> damage = new LinkedHashMap<>();
            damage.put("opt.pt", f -> write(f, new byte[0]));                                   // empty
            damage.put("tensors.safetensors", f -> flipLastByte(f));                              // one bit
            damage.put("opt.pt ", f -> delete(f));                                                // missing
            for (var d : damage.entrySet()) {
                Path run = dir.resolve("r" + d.getKey().length() + d.getKey().hashCode());
                a.save(run, 1);
                Path f = run.resolve("checkpoint").resolve(d.getKey().trim());
                d.getValue().accept(f);
                var e = assertThrows(Add4jException.class, () -> Checkpoint.read(run, "test", a.parts, 1), d.getKey());
                assertTrue(oneLine(e).startsWith(f + ": "), e.getMessage());
            }
            Path run = dir.resolve("nomanifest");
            a.save(run, 1);
            delete(run.resolve("checkpoint/manifest.json"));
            var e = assertThrows(Add4jException.class, () -> Checkpoint.read(run, "test", a.parts, 1));
            assertTrue(oneLine(e).contains("manifest.json: missing"), e.getMessage());
        }
    }

    @Test void theManifestsStepTrainerAndFilesAreChecked(@TempDir Path dir) throws IOException {
        try (Run a = new Run(1)) {
            a.save(dir, 5);
            Path mf = dir.resolve("checkpoint/manifest.json");
            String good = Files.readString(mf);
            Map<String, String> bad = new LinkedHashMap<>();
            bad.put("\"step\" : -5", "step -5 is negative");
            bad.put("\"step\" : \"abc\"", "field 'step': expected an integer");
            bad.put("\"step\" : 5.5", "field 'step': expected an integer");
            bad.put("\"step\" : 50", "step 50 is past the run's 10 steps; resume with --steps 50 or more");
            for (var b : bad.entrySet()) {
                Files.writeString(mf, good.replace("\"step\" : 5", b.getKey()));
                var e = assertThrows(Add4jException.class, () -> Checkpoint.read(dir, "test", a.parts, 10), b.getKey());
                assertTrue(oneLine(e).startsWith(mf + ": ") && e.getMessage().contains(b.getValue()), e.getMessage());
            }
            Files.writeString(mf, good);
            var e = assertThrows(Add4jException.class, () -> Checkpoint.read(dir, "teacher", a.parts, 10));
            assertTrue(oneLine(e).contains("a checkpoint of the 'test' trainer, not of 'teacher'"), e.getMessage());
            var fewer = new Checkpoint.Parts(a.parts.modules(), Map.of());
            e = assertThrows(Add4jException.class, () -> Checkpoint.read(dir, "test", fewer, 10));
            assertTrue(oneLine(e).contains("lists [opt.pt, tensors.safetensors], but this trainer's checkpoint is [tensors.safetensors]"), e.getMessage());
            assertEquals(5, Checkpoint.read(dir, "test", a.parts, 10).step());
        }
    }

    /** An older add4j's three files resume; a bad step or an empty optimiser state is one line, not a C++ trace. */
    @Test void anOlderAddsThreeFileCheckpointResumesAndItsFirstSaveReplacesIt(@TempDir Path dir) throws IOException {
        Map<String, Tensor> straight;
        try (Run a = new Run(1)) {
            a.train(2);
            writeLegacy(a, dir, "2");
            a.train(1);
            straight = state(a);
        }
        try (Run b = new Run(2)) {
            Checkpoint.Saved c = Checkpoint.read(dir, "test", b.parts, 10);
            assertEquals(2, c.step());
            c.restore(b.parts, new Device("cpu"));
            b.train(1);
            assertSameState(straight, state(b));
            b.save(dir, 3);
            assertFalse(Files.exists(dir.resolve(Checkpoint.LEGACY)) || Files.exists(dir.resolve("opt.pt")), "replaced");
        }
        try (Run a = new Run(1)) {
            Path legacy = dir.resolve("old");
            for (String step : new String[]{"-3", "abc"}) {
                writeLegacy(a, legacy, step);
                var e = assertThrows(Add4jException.class, () -> Checkpoint.read(legacy, "test", a.parts, 10));
                assertTrue(oneLine(e).startsWith(legacy.resolve(Checkpoint.LEGACY) + ": metadata 'step' is '" + step + "', not a non-negative integer"), e.getMessage());
            }
            writeLegacy(a, legacy, "1");
            Files.write(legacy.resolve("opt.pt"), new byte[0]);
            Checkpoint.Saved c = Checkpoint.read(legacy, "test", a.parts, 10);
            var e = assertThrows(Add4jException.class, () -> c.restore(a.parts, new Device("cpu")));
            assertTrue(oneLine(e).startsWith(legacy.resolve("opt.pt") + ": not an optimiser state this run can load"), e.getMessage());
        }
    }

    /** The layout add4j wrote before the checkpoint directory: tensors and metadata in one file, optimisers beside it. */
    static void writeLegacy(Run r, Path dir, String step) {
        try (var scope = new PointerScope()) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            r.net.namedParameters().forEach((k, v) -> all.put("net." + k, v));
            r.net.namedBuffers().forEach((k, v) -> all.put("net_buffer." + k, v));
            r.ema.namedParameters().forEach((k, v) -> all.put("ema." + k, v));
            r.ema.namedBuffers().forEach((k, v) -> all.put("ema_buffer." + k, v));
            SafeTensors.write(dir.resolve(Checkpoint.LEGACY), all, Map.of("step", step, "config", "{}"), SafeTensors.Dtype.F32);
            OutputArchive archive = new OutputArchive();
            r.opt.save(archive);
            archive.save_to(dir.resolve("opt.pt").toString());
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) Files.copy(f, to.resolve(f.getFileName()));
        }
    }

    static void write(Path f, byte[] b) {
        try { Files.write(f, b); } catch (IOException e) { throw new java.io.UncheckedIOException(e); }
    }

    static void delete(Path f) {
        try { Files.delete(f); } catch (IOException e) { throw new java.io.UncheckedIOException(e); }
    }

    static void flipLastByte(Path f) {
        try {
            byte[] b = Files.readAllBytes(f);
            b[b.length - 1] ^= 1;
            Files.write(f, b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
