package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.cli.TrainEvalNetCommand;
import dev.add4j.data.FashionMnist;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class EvalNetTrainerTest {
    static TextEncoder text;
    @TempDir Path dir;

    @BeforeAll static void load() {
        TorchRuntime.init();
        text = new TextEncoder();
    }

    @AfterAll static void close() { text.close(); }

    @Test void shortTrainingOnTheEmbeddedSubsetLowersTheLossAndBeatsChanceByFar() {
        // the tiny network, 400 steps of 64: about 10 s on 2 cores
        var cfg = EvalNetTrainer.Config.defaults().withSteps(400).withBatch(64).withLr(4e-3).withLogEvery(50);
        List<String> reports = new ArrayList<>();
        EvalNet net = new EvalNet(EvalNet.Config.tiny());
        EvalNetTrainer.Result r = EvalNetTrainer.train(net, cfg, FashionMnist.load(FashionMnist.EMBEDDED, true),
                FashionMnist.load(FashionMnist.EMBEDDED, false), text, new Device("cpu"), reports::add);
        assertEquals(8, reports.size());
        assertTrue(reports.get(7).startsWith("step 400/400 (100.0%) loss "), reports.get(7));
        assertTrue(r.lastLoss() < 0.75 * r.firstLoss(), "loss " + r.firstLoss() + " -> " + r.lastLoss());
        assertTrue(r.test().overall() > 0.5, "test accuracy " + r.test().overall() + " (chance is 0.1)");
        assertTrue(r.textAccuracy() > 0.4, "zero-shot accuracy with the canonical prompts " + r.textAccuracy());
        assertEquals(List.of(100L, 100L, 100L, 100L, 100L, 100L, 100L, 100L, 100L, 100L), r.test().counts());
    }

    /**
     * 2 gloo ranks x 8 images against 1 x 16, 5 steps: the same losses and weights to float tolerance. The contrastive
     * loss couples the batch (every image against every caption): each rank computes it on the gathered batch and
     * differentiates it through its own rows.
     */
    @Test void twoRanksOfHalfTheBatchTrainTheNetAsOneProcess() throws Exception {
        var cfg = EvalNetTrainer.Config.defaults().withSteps(5).withBatch(16).withLr(4e-3).withLogEvery(1);
        java.util.function.Function<dev.add4j.dist.Group, Object[]> run = g -> {
            EvalNet net;
            synchronized (TorchRuntime.GLOBAL_GENERATOR) {          // ranks as threads each build one
                torch.manual_seed(3);
                net = new EvalNet(EvalNet.Config.tiny());
            }
            List<String> reports = new ArrayList<>();
            EvalNetTrainer.Result r = EvalNetTrainer.train(net, cfg, FashionMnist.load(FashionMnist.EMBEDDED, true),
                    FashionMnist.load(FashionMnist.EMBEDDED, false), text, new Device("cpu"), reports::add);
            List<float[]> weights = new ArrayList<>();
            for (Tensor p : net.namedParameters().values()) weights.add(Ops.toFloats(p));
            return new Object[]{r, weights};
        };
        Object[] one = run.apply(dev.add4j.dist.Group.SINGLE);
        List<Object[]> ranks = dev.add4j.dist.Ranks.run(2, run::apply);
        EvalNetTrainer.Result want = (EvalNetTrainer.Result) one[0];
        @SuppressWarnings("unchecked") List<float[]> wantW = (List<float[]>) one[1];
        for (Object[] got : ranks) {
            EvalNetTrainer.Result r = (EvalNetTrainer.Result) got[0];
            assertEquals(want.firstLoss(), r.firstLoss(), 1e-5 * want.firstLoss());
            assertEquals(want.lastLoss(), r.lastLoss(), 1e-4 * want.lastLoss());
            assertEquals(want.lastAccuracy(), r.lastAccuracy(), 1e-9);
            @SuppressWarnings("unchecked") List<float[]> w = (List<float[]>) got[1];
            double worst = 0;
            for (int i = 0; i < w.size(); i++)
                for (int j = 0; j < w.get(i).length; j++) worst = Math.max(worst, Math.abs(w.get(i)[j] - wantW.get(i)[j]));
            System.out.println("EvalNetTrainerTest 2 ranks x 8 against 1 x 16, 5 steps: losses " + r.firstLoss() + " / " + want.firstLoss()
                    + ", " + r.lastLoss() + " / " + want.lastLoss() + ", weights differ by at most " + worst);
            assertTrue(worst < 1e-4, "weights differ by " + worst);
        }
    }

    @Test void contrastiveLossIsLowerForMatchingCaptionsThanForShuffledOnes() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(13);
            Tensor labels = Ops.fromLongs(new long[]{0, 1, 2, 3, 0, 1}, 6);
            Tensor classText = torch.normalize(torch.randn(4, 16));                                // [4,16]
            Tensor text = classText.index_select(0, labels);                                        // [6,16]
            Tensor images = torch.normalize(text.add(torch.randn(6, 16).mul(Ops.s(0.1))));         // near their captions
            Tensor scale = torch.full(new long[]{}, Ops.s(10));
            double matched = Ops.f(EvalNetTrainer.classContrastiveLoss(images, text, labels, scale));
            Tensor shuffled = text.index_select(0, Ops.fromLongs(new long[]{1, 2, 3, 0, 5, 4}, 6));
            double wrong = Ops.f(EvalNetTrainer.classContrastiveLoss(images, shuffled, labels, scale));
            assertTrue(matched < wrong, matched + " vs " + wrong);
        }
    }

    @Test void contrastiveLossTreatsSameClassCaptionsAsPositives() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor scale = torch.full(new long[]{}, Ops.s(5));
            // two classes, images equal to their class's text vector: rows are (s, 0) and (0, s) -> log(1 + e^-s)
            Tensor e = torch.eye(2);
            double twoClasses = Ops.f(EvalNetTrainer.classContrastiveLoss(e, e, Ops.fromLongs(new long[]{0, 1}, 2), scale));
            assertEquals(Math.log(1 + Math.exp(-5)), twoClasses, 1e-6);
            // one class twice: both captions are targets with weight 1/2, and equal logits give the target's entropy log 2
            Tensor v = Ops.fromFloats(new float[]{1, 0, 1, 0}, 2, 2);
            double oneClass = Ops.f(EvalNetTrainer.classContrastiveLoss(v, v, Ops.fromLongs(new long[]{3, 3}, 2), scale));
            assertEquals(Math.log(2), oneClass, 1e-6);
        }
    }

    @Test void augmentationTranslatesByAtMostTwoPixelsAndKeepsThePixels() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            var gen = torch.make_generator_cpu(14);
            Tensor x = torch.full(new long[]{64, 1, 32, 32}, Ops.s(-1));
            x.narrow(2, 16, 1).narrow(3, 16, 1).fill_(Ops.s(1));                                    // one bright pixel each
            Tensor out = EvalNetTrainer.augment(x, 2, false, gen);
            assertArrayEquals(new long[]{64, 1, 32, 32}, Ops.shape(out));
            assertEquals(Ops.f(x.sum()), Ops.f(out.sum()), 1e-3, "the pixel stays inside, the border is background");
            long[] where = Ops.toLongs(out.reshape(64, -1).argmax(new org.bytedeco.pytorch.LongOptional(1), false));
            java.util.Set<Long> seen = new java.util.HashSet<>();
            for (long w : where) {
                long dy = w / 32 - 16, dx = w % 32 - 16;
                assertTrue(Math.abs(dy) <= 2 && Math.abs(dx) <= 2, "moved by " + dy + "," + dx);
                seen.add(w);
            }
            assertTrue(seen.size() >= 10, "shifts vary per image: " + seen.size() + " distinct of 25");
        }
    }

    @Test void flipMirrorsAboutHalfTheImagesAndShiftZeroIsTheIdentity() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(15);
            Tensor x = torch.rand(new long[]{200, 1, 32, 32});
            var gen = torch.make_generator_cpu(15);
            assertEquals(0.0, Ops.f(EvalNetTrainer.augment(x, 0, false, gen).sub(x).abs().max()));
            Tensor out = EvalNetTrainer.augment(x, 0, true, gen);
            Tensor same = out.sub(x).abs().amax(new long[]{1, 2, 3}, false).eq(Ops.s(0));           // [200]
            Tensor mirrored = out.sub(x.flip(3)).abs().amax(new long[]{1, 2, 3}, false).eq(Ops.s(0)); // [200]
            assertEquals(200, same.logical_or(mirrored).sum().item_long(), "each image is itself or its mirror");
            long flipped = mirrored.sum().item_long();
            assertTrue(flipped > 70 && flipped < 130, flipped + " of 200 mirrored");
        }
    }

    @Test void learningRateWarmsUpThenDecaysToZero() {
        assertEquals(0.1, EvalNetTrainer.lrAt(0, 100, 10, 1.0), 1e-12);
        assertEquals(1.0, EvalNetTrainer.lrAt(9, 100, 10, 1.0), 1e-12);
        assertEquals(1.0, EvalNetTrainer.lrAt(10, 100, 10, 1.0), 1e-12);
        assertEquals(0.5, EvalNetTrainer.lrAt(55, 100, 10, 1.0), 1e-12);
        assertTrue(EvalNetTrainer.lrAt(99, 100, 10, 1.0) < 1e-3);
        assertEquals(1.0, EvalNetTrainer.lrAt(0, 100, 0, 1.0), 1e-12, "no warm-up");
    }

    @Test void trainEvalNetCommandWritesALoadableNetWithItsTestAccuracy() throws Exception {
        Path out = dir.resolve("evalnet.safetensors");
        int code = new CommandLine(new TrainEvalNetCommand()).execute("--data", "embedded", "--out", out.toString(),
                "--size", "tiny", "--steps", "20", "--batch", "32", "--log-every", "10", "--device", "cpu");
        assertEquals(0, code);
        assertTrue(Files.isRegularFile(out));
        try (var scope = new PointerScope()) {
            EvalNet.Loaded loaded = EvalNet.load(out, new Device("cpu"));
            assertEquals(EvalNet.Config.tiny(), loaded.net().config());
            double acc = Double.parseDouble(loaded.metadata().get("evalnet.test_accuracy"));
            assertTrue(acc >= 0 && acc <= 1, "accuracy " + acc);
            assertEquals("20", loaded.metadata().get("evalnet.steps"));
            assertTrue(loaded.metadata().containsKey("add4j.command"));
            assertTrue(loaded.metadata().get("evalnet.train_config").contains("\"steps\" : 20"));
        }
    }

    @Test void aBatchLargerThanTheTrainingSetIsRejected() {
        var cfg = EvalNetTrainer.Config.defaults().withBatch(5000);
        var e = assertThrows(IllegalArgumentException.class, () -> EvalNetTrainer.train(new EvalNet(EvalNet.Config.tiny()), cfg,
                FashionMnist.load(FashionMnist.EMBEDDED, true), FashionMnist.load(FashionMnist.EMBEDDED, false),
                text, new Device("cpu"), line -> {}));
        assertEquals("batch 5000 is larger than the training set (4000 images)", e.getMessage());
    }
}
