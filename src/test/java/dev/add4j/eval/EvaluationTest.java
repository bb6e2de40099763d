package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Sampling, metrics and the reference cache of eval/Evaluation and eval/Reference, with a tiny random UNet and eval net. */
class EvaluationTest {
    static final Device CPU = new Device("cpu");
    @TempDir static Path dir;
    static TextEncoder text;
    static ModelFile.Loaded model;

    @BeforeAll static void init() {
        TorchRuntime.init();
        text = new TextEncoder();
        torch.manual_seed(5);
        Path file = dir.resolve("tiny.safetensors");
        ModelFile.save(file, new UNet(UNet.Config.tiny()), "teacher", Map.of());
        model = ModelFile.load(file, CPU);
    }

    @AfterAll static void close() { text.close(); }

    @Test void classBalancedPromptsHaveNOverTenOfEachClassNamedInTheirCaption() {
        Evaluation.Prompts p = Evaluation.Prompts.classBalanced(50, 3);
        assertEquals(50, p.size());
        for (int c = 0; c < 10; c++) assertEquals(5, Collections.frequency(p.classes(), c));
        for (int i = 0; i < 50; i++) {
            assertEquals(i % 10, p.classes().get(i));
            assertTrue(dev.add4j.data.Captions.all(i % 10).contains(p.prompts().get(i)), p.prompts().get(i));
        }
        assertEquals(p, Evaluation.Prompts.classBalanced(50, 3), "the same seed gives the same captions");
        assertNotEquals(p.prompts(), Evaluation.Prompts.classBalanced(50, 4).prompts());
    }

    @Test void nThatIsNotAPositiveMultipleOfTenIsRejected() {
        for (int n : new int[]{0, 5, 25, -10}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Evaluation.Prompts.classBalanced(n, 0));
            assertEquals("n must be a positive multiple of 10 (the same number of images for each class), got " + n, e.getMessage());
        }
    }

    @Test void imageIDependsOnlyOnSeedPlusINotOnTheBatch() {
        try (var scope = new PointerScope()) {
            Evaluation.Prompts p = Evaluation.Prompts.classBalanced(20, 0);
            SamplingPlan plan = model.plan(2);
            Tensor a = Evaluation.sample(model.model(), plan, 0, p, 7, 20, text, CPU, Evaluation.Progress.NONE).images();
            Tensor b = Evaluation.sample(model.model(), plan, 0, p, 7, 6, text, CPU, Evaluation.Progress.NONE).images();
            assertArrayEquals(new long[]{20, 1, 32, 32}, Ops.shape(a));
            assertTrue(Ops.f(a.sub(b).abs().max()) < 1e-4, "batch 20 vs 6 differ by " + Ops.f(a.sub(b).abs().max()));
            // the last 10 images of seed 7 are the first 10 of seed 17 when their prompts are the same
            Evaluation.Prompts tail = new Evaluation.Prompts(p.prompts().subList(10, 20), p.classes().subList(10, 20));
            Tensor c = Evaluation.sample(model.model(), plan, 0, tail, 17, 10, text, CPU, Evaluation.Progress.NONE).images();
            assertTrue(Ops.f(a.narrow(0, 10, 10).sub(c).abs().max()) < 1e-4);
        }
    }

    @Test void rowsAreReproducibleUnderTheSameSeedWhateverTheBatchAndDifferForAnotherSeed() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(12);
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            net.requiresGrad(false).train(false);
            FashionMnist.Split test = FashionMnist.load(FashionMnist.EMBEDDED, false);
            Reference ref = new Reference(FeatureStats.of(net.evaluate(FashionMnist.images(test), 500).features()),
                    Reference.features(net, test, Reference.classBalanced(test.labels(), 2, 0), 64), "embedded test");
            Evaluation.Prompts p = Evaluation.Prompts.classBalanced(20, 1);
            Evaluation.Row a = Evaluation.evaluate(new Evaluation.Setup(net, ref, text, CPU, p, 3, 8), model, 2, 0, Evaluation.Progress.NONE).row();
            Evaluation.Row b = Evaluation.evaluate(new Evaluation.Setup(net, ref, text, CPU, p, 3, 20), model, 2, 0, Evaluation.Progress.NONE).row();
            Evaluation.Row c = Evaluation.evaluate(new Evaluation.Setup(net, ref, text, CPU, p, 4, 20), model, 2, 0, Evaluation.Progress.NONE).row();
            // batch-size changes may reorder float sums in the convolutions: equal to rounding, not bit for bit
            assertEquals(a.fid(), b.fid(), 1e-4 * Math.max(1, a.fid()));
            assertEquals(a.kid(), b.kid(), 1e-5);
            assertEquals(a.clipScore(), b.clipScore(), 1e-3);
            assertEquals(a.classAccuracy(), b.classAccuracy());
            assertEquals(a.perClassAccuracy(), b.perClassAccuracy());
            assertEquals(a.precision(), b.precision());
            assertEquals(a.recall(), b.recall());
            assertEquals(List.of(999, 499), a.timesteps());
            assertNotEquals(a.fid(), c.fid(), "another seed, other images");
        }
    }

    /**
     * 2 gloo ranks, each sampling and embedding its 15 of 30 images, then measuring the gathered features, give the
     * row of one process. Tolerances as for another batch size above (the ranks sample at batch 8 of 15, one
     * process at 8 of 30, so the convolutions may sum in another order).
     */
    @Test void twoRanksEachMakingHalfTheImagesGiveOneProcesssRow() throws Exception {
        torch.manual_seed(12);
        EvalNet net = new EvalNet(EvalNet.Config.tiny());
        net.requiresGrad(false).train(false);
        FashionMnist.Split test = FashionMnist.load(FashionMnist.EMBEDDED, false);
        Reference ref = new Reference(FeatureStats.of(net.evaluate(FashionMnist.images(test), 500).features()),
                Reference.features(net, test, Reference.classBalanced(test.labels(), 2, 0), 64), "embedded test");
        Evaluation.Setup setup = new Evaluation.Setup(net, ref, text, CPU, Evaluation.Prompts.classBalanced(30, 1), 3, 8);
        SamplingPlan plan = model.plan(2);
        Evaluation.Row one;
        float[] oneImages;
        try (var scope = new PointerScope()) {
            Evaluation.Result r = Evaluation.evaluate(setup, model, plan, 0, Evaluation.Progress.NONE);
            one = r.row();
            oneImages = Ops.toFloats(r.images());
        }
        List<Object[]> ranks = dev.add4j.dist.Ranks.run(2, g -> {
            try (var scope = new PointerScope()) {
                Evaluation.Result r = Evaluation.evaluate(setup, model, plan, 0, Evaluation.Progress.NONE, g);
                return new Object[]{r.row(), Ops.toFloats(r.images())};
            }
        });
        for (Object[] got : ranks) {
            Evaluation.Row a = (Evaluation.Row) got[0];
            float[] images = (float[]) got[1];
            double worst = 0;
            for (int i = 0; i < images.length; i++) worst = Math.max(worst, Math.abs(images[i] - oneImages[i]));
            assertTrue(worst < 1e-4, "every rank holds all 30 images: they differ by " + worst);
            System.out.printf("EvaluationTest 2 ranks x 15 images against 1 x 30: fid %.6f vs %.6f%n", a.fid(), one.fid());
            assertEquals(one.n(), a.n());
            assertEquals(one.fid(), a.fid(), 1e-4 * Math.max(1, one.fid()));
            assertEquals(one.kid(), a.kid(), 1e-5);
            assertEquals(one.clipScore(), a.clipScore(), 1e-3);
            assertEquals(one.classAccuracy(), a.classAccuracy());
            assertEquals(one.perClassAccuracy(), a.perClassAccuracy());
            assertEquals(one.precision(), a.precision());
            assertEquals(one.recall(), a.recall());
        }
    }

    @Test void progressReportsEveryBatchUpToTheTotal() {
        try (var scope = new PointerScope()) {
            List<Integer> done = new java.util.ArrayList<>();
            Evaluation.sample(model.model(), model.plan(1), 0, Evaluation.Prompts.classBalanced(20, 0), 0, 8, text, CPU,
                    (d, total, s) -> { done.add(d); assertEquals(20, total); assertTrue(s >= 0); });
            assertEquals(List.of(8, 16, 20), done);
        }
    }

    @Test void gridShowsEightImagesForEachOfTheTenClassesOneClassARow() {
        try (var scope = new PointerScope()) {
            Evaluation.Prompts p = Evaluation.Prompts.classBalanced(100, 0);
            Tensor images = p.labels().to(torch.ScalarType.Float).div(Ops.s(4.5)).sub(Ops.s(1))  // class c -> grey level
                    .reshape(100, 1, 1, 1).expand(100, 1, 32, 32).contiguous();
            BufferedImage g = Evaluation.grid(images, p);
            assertEquals(8 * (64 + 2) + 2, g.getWidth());
            assertEquals(10 * (64 + 2) + 2, g.getHeight());
            for (int c = 0; c < 10; c++) {
                int expected = (int) Math.round((c / 4.5 - 1 + 1) * 127.5);
                for (int col = 0; col < 8; col++)
                    assertEquals(expected, g.getRGB(2 + col * 66 + 10, 2 + c * 66 + 10) & 0xff, "class " + c + ", column " + col);
            }
            assertEquals(5 * 66 + 2, Evaluation.grid(images.narrow(0, 0, 50), Evaluation.Prompts.classBalanced(50, 0)).getWidth(),
                    "fewer than 8 per class: as many columns as there are");
        }
    }

    @Test void metricsOfASetAgainstItselfGiveZeroFidFullPrecisionAndRecallAndTheNetsAccuracy() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(8);
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            net.requiresGrad(false).train(false);
            FashionMnist.Split test = FashionMnist.load(FashionMnist.EMBEDDED, false);
            int[] idx = Reference.classBalanced(test.labels(), 3, 0);
            Tensor images = FashionMnist.images(test, idx);                                          // [30,1,32,32]
            Tensor feats = net.evaluate(images, 16).features();
            Reference ref = new Reference(FeatureStats.of(feats), feats, "self");
            Evaluation.Prompts p = Evaluation.Prompts.classBalanced(30, 0);
            assertEquals(p.classes(), java.util.Arrays.stream(idx).map(i -> test.labels()[i]).boxed().toList(), "interleaved by class");
            Evaluation.Metrics m = Evaluation.metrics(net, ref, images, p, text, 16);
            assertEquals(0.0, m.fid(), 1e-6);
            assertEquals(1.0, m.precision());
            assertEquals(1.0, m.recall());
            double acc = ClassAccuracy.of(net.evaluate(images, 30).logits(), p.labels()).overall();
            assertEquals(acc, m.classAccuracy(), 1e-12);
            assertEquals(10, m.perClassAccuracy().size());
            assertTrue(m.clipScore() >= 0 && m.clipScore() <= 100);
            assertTrue(m.kidStd() > 0, "subsets of half the set differ, so KID has a spread");
        }
    }

    @Test void kidSubsetsAreAtMostHalfTheSmallerSetAndAtMost1000() {
        assertEquals(10, Evaluation.kidSubsetSize(20, 50));
        assertEquals(500, Evaluation.kidSubsetSize(1000, 1000));
        assertEquals(1000, Evaluation.kidSubsetSize(10000, 2000));
        assertEquals(2, Evaluation.kidSubsetSize(3, 3));
    }

    @Test void classBalancedIndicesAreInterleavedByClassAndSeeded() {
        int[] labels = new int[200];
        for (int i = 0; i < 200; i++) labels[i] = (i * 7) % 10;
        int[] idx = Reference.classBalanced(labels, 4, 1);
        assertEquals(40, idx.length);
        for (int i = 0; i < 40; i++) assertEquals(i % 10, labels[idx[i]]);
        assertEquals(40, java.util.Arrays.stream(idx).distinct().count());
        assertArrayEquals(idx, Reference.classBalanced(labels, 4, 1));
        assertFalse(java.util.Arrays.equals(idx, Reference.classBalanced(labels, 4, 2)));
        assertEquals(200, Reference.classBalanced(labels, 1000, 1).length, "capped at what each class has");
    }

    @Test void referenceStatisticsAreCachedAndTheKeyChangesWithTheEvalNetsContentOrTheData() throws Exception {
        try (var scope = new PointerScope()) {
            torch.manual_seed(9);
            Path netFile = dir.resolve("cache-net.safetensors");
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            net.save(netFile, Map.of());
            FashionMnist.Split test = FashionMnist.load(FashionMnist.EMBEDDED, false), train = FashionMnist.load(FashionMnist.EMBEDDED, true);
            List<String> log = new java.util.ArrayList<>();
            FeatureStats first = Reference.cachedStats(net, netFile, test, "test", 256, log::add);
            Path cache = Reference.cacheFile(netFile, Reference.cacheKey(netFile, test));
            assertTrue(Files.isRegularFile(cache));
            assertTrue(cache.getFileName().toString().matches("cache-net\\.safetensors\\.ref-[0-9a-f]{16}\\.safetensors"), cache.toString());
            log.clear();
            FeatureStats again = Reference.cachedStats(net, netFile, test, "test", 256, log::add);
            assertTrue(log.get(0).startsWith("reference statistics: reusing"), log.toString());
            assertEquals(0.0, Fid.distance(first, again), 1e-9);

            // a retrained net of the same architecture has the same file name and size, but another key
            String key = Reference.cacheKey(netFile, test);
            long size = Files.size(netFile);
            torch.manual_seed(10);
            new EvalNet(EvalNet.Config.tiny()).save(netFile, Map.of());
            assertEquals(size, Files.size(netFile));
            assertNotEquals(key, Reference.cacheKey(netFile, test));
            assertNotEquals(key, Reference.cacheKey(dir.resolve("cache-net.safetensors"), train), "other data, other key");
        }
    }
}
