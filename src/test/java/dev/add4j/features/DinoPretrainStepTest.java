package dev.add4j.features;

import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class DinoPretrainStepTest {
    static final Device CPU = new Device("cpu");
    static Tensor images, labels; // the embedded subset's 4000 training images [4000,1,32,32], labels [4000]

    @BeforeAll static void init() {
        TorchRuntime.init();
        FashionMnist.Split train = FashionMnist.loadEmbedded(true);
        images = FeatureTrainer.images(train, train.n(), CPU);
        labels = FeatureTrainer.labels(train, train.n(), CPU);
    }

    static FeatureTrainConfig tinyConfig(FeatureTrainConfig.Objective objective, int steps, double lr) {
        return new FeatureTrainConfig(objective, Vit.Config.tiny(), DinoPretrainStep.Config.tiny(), Augment.Config.dino(),
                steps, 32, lr, 1e-6, 0.1, 0.04, 3.0, 0);
    }

    static DinoPretrainStep tinyStep() {
        return (DinoPretrainStep) new FeatureTrainer(tinyConfig(FeatureTrainConfig.Objective.DINO, 10, 1e-3)).newStep(CPU);
    }

    @Test void lossIsTheCrossEntropyAveragedOverPairsOfDifferentViews() {
        try (var scope = new PointerScope()) {
            // B = 1, K = 2, two global views, no centre, temperatures 1: loss = (H(t0, s1) + H(t1, s0)) / 2
            Tensor t = Ops.fromFloats(new float[]{1, 0, 0, 2}, 2, 2), s = Ops.fromFloats(new float[]{0.5f, -0.5f, 0, 1}, 2, 2);
            double[] t0 = softmax(1, 0), t1 = softmax(0, 2), s0 = softmax(0.5, -0.5), s1 = softmax(0, 1);
            double expected = (-(t0[0] * Math.log(s1[0]) + t0[1] * Math.log(s1[1])) - (t1[0] * Math.log(s0[0]) + t1[1] * Math.log(s0[1]))) / 2;
            assertEquals(expected, Ops.f(DinoPretrainStep.loss(DinoPretrainStep.centred(t, torch.zeros(1, 2), 1.0), s, 1, 1.0)), 1e-6);
        }
    }

    private static double[] softmax(double a, double b) {
        double m = Math.max(a, b), ea = Math.exp(a - m), eb = Math.exp(b - m);
        return new double[]{ea / (ea + eb), eb / (ea + eb)};
    }

    @Test void teacherIsTheExponentialMovingAverageOfTheStudent() {
        try (var step = tinyStep(); var scope = new PointerScope()) {
            Tensor x = images.narrow(0, 0, 8), y = labels.narrow(0, 0, 8);
            Tensor before = step.backbone().namedParameters().get("blocks.0.attn.qkv.weight").clone();
            step.step(x, y, new PretrainStep.At(1e-3, 1.0, 0.04, false));                        // m = 1: teacher frozen
            assertTrue(step.backbone().namedParameters().get("blocks.0.attn.qkv.weight").equal(before));
            assertFalse(step.student().namedParameters().get("blocks.0.attn.qkv.weight").equal(before), "the student moved");
            step.step(x, y, new PretrainStep.At(1e-3, 0.0, 0.04, false));                        // m = 0: teacher = student
            for (var e : step.student().namedParameters().entrySet())
                assertTrue(step.backbone().namedParameters().get(e.getKey()).equal(e.getValue()), e.getKey());
            for (Tensor p : step.backbone().namedParameters().values()) assertFalse(p.requires_grad());
        }
    }

    @Test void frozenLastLayerKeepsThePrototypesWhileTheRestLearns() {
        try (var step = tinyStep(); var scope = new PointerScope()) {
            Tensor before = step.studentHead().prototypes().clone();
            step.step(images.narrow(0, 0, 8), labels.narrow(0, 0, 8), new PretrainStep.At(1e-3, 0.996, 0.04, true));
            assertTrue(step.studentHead().prototypes().equal(before));
            step.step(images.narrow(0, 0, 8), labels.narrow(0, 0, 8), new PretrainStep.At(1e-3, 0.996, 0.04, false));
            assertFalse(step.studentHead().prototypes().equal(before));
        }
    }

    @Test void studentLearnsToMatchAFixedTeacherOnFixedViews() {
        // teacher frozen (m = 1) and views without randomness: the student's part of the loss,
        // KL(P_t || P_s) = H(P_t, P_s) - H(P_t), is then an ordinary objective and must fall.
        // (The loss itself can rise meanwhile: centring flattens the teacher, which raises H(P_t).)
        torch.manual_seed(0);
        try (var step = new DinoPretrainStep(Vit.Config.tiny(), DinoPretrainStep.Config.tiny(), new Augment(Augment.Config.none(), 0),
                0.04, 3.0, CPU)) {
            Tensor x = images.narrow(0, 0, 32), y = labels.narrow(0, 0, 32);
            double[] kl = new double[30];
            for (int k = 0; k < kl.length; k++) {
                PretrainStep.Stats s = step.step(x, y, new PretrainStep.At(1e-3, 1.0, 0.04, false));
                kl[k] = s.loss() - s.entropy();
            }
            // the student starts as the teacher's copy, so its first big Adam steps move it away; measure after them
            double early = java.util.Arrays.stream(kl, 5, 10).average().orElseThrow();
            double late = java.util.Arrays.stream(kl, 25, 30).average().orElseThrow();
            assertTrue(late < 0.6 * early, "KL " + early + " -> " + late);
        }
    }

    @Test void aShortDinoRunCollapsesNeitherToOnePrototypeNorToUniform() {
        FeatureTrainer trainer = new FeatureTrainer(tinyConfig(FeatureTrainConfig.Objective.DINO, 40, 5e-4));
        try (var step = trainer.newStep(CPU)) {
            FeatureTrainer.Summary s = trainer.train(step, images, labels, line -> {}, 1000);
            double logK = Math.log(DinoPretrainStep.Config.tiny().prototypes());
            for (PretrainStep.Stats st : s.history().subList(30, 40)) {
                assertTrue(st.marginalEntropy() > 0.7 * logK, "teacher uses few prototypes: H(mean) " + st.marginalEntropy());
                assertTrue(st.entropy() > 0.3, "teacher outputs one-hot: H " + st.entropy());
                assertTrue(st.entropy() < logK - 0.1, "teacher outputs uniform: H " + st.entropy() + " of " + logK);
                assertTrue(Double.isFinite(st.loss()));
            }
        }
    }

    @Test void nativeMemoryStaysFlatOverSteps() {
        FeatureTrainer trainer = new FeatureTrainer(tinyConfig(FeatureTrainConfig.Objective.DINO, 100, 1e-3));
        try (var step = trainer.newStep(CPU)) {
            Tensor x = images.narrow(0, 0, 32), y = labels.narrow(0, 0, 32);
            for (int k = 0; k < 20; k++) step.step(x, y, trainer.schedule(k));             // warm-up: allocator caches fill
            System.gc();
            long before = Pointer.physicalBytes();
            for (int k = 20; k < 100; k++) step.step(x, y, trainer.schedule(k));
            System.gc();
            long grown = Pointer.physicalBytes() - before;
            assertTrue(grown < 20_000_000, "resident memory grew " + grown / 1_000_000 + " MB over 80 steps");
        }
    }

    /** {@code steps} steps of {@code cfg} through the training loop: each step's statistics, then the backbone's weights. */
    static Object[] loopSteps(FeatureTrainConfig cfg, int steps) {
        FeatureTrainer trainer = new FeatureTrainer(cfg);
        List<java.util.Map<String, Double>> stats = new java.util.ArrayList<>();
        List<float[]> weights = new java.util.ArrayList<>();
        try (var step = trainer.newStep(CPU); var run = trainer.run(step, images, labels)) {
            dev.add4j.train.TrainLoop loop = new dev.add4j.train.TrainLoop(List.of(run.stage()));
            for (long k = 0; k < steps; k++) stats.add(loop.step(k));
            for (Tensor p : step.backbone().namedParameters().values()) weights.add(Ops.toFloats(p));
        }
        return new Object[]{stats, weights};
    }

    /**
     * DINO (centred targets, local views) and the supervised objective, 2 gloo ranks x 16 images against 1 x 32 for 4
     * steps: the same statistics and backbone to float tolerance (the centre and the batch-mean entropy are the global
     * batch's; the gradient is averaged before the clip); with the self-supervised recipe's terms, which see the
     * whole batch, too.
     */
    @SuppressWarnings("unchecked")
    @Test void twoRanksOfHalfTheBatchTrainAsOneProcess() throws Exception {
        // DINO, the supervised objective, and DINO with every term that couples a batch's images (the self-supervised
        // recipe: iBOT's hidden patches, Sinkhorn's targets, KoLeo, InfoNCE)
        FeatureTrainConfig ssl = tinyConfig(FeatureTrainConfig.Objective.DINO, 4, 1e-3)
                .withDino(DinoPretrainStep.Config.tiny().withMaskedTokens(1).withDinoV2(true, 0.1).withContrastive(1));
        List<FeatureTrainConfig> configs = List.of(tinyConfig(FeatureTrainConfig.Objective.DINO, 4, 1e-3),
                tinyConfig(FeatureTrainConfig.Objective.SUPERVISED, 4, 1e-3), ssl);
        for (FeatureTrainConfig cfg : configs) {
            String o = cfg == ssl ? "ssl" : cfg.objective().cliName();
            Object[] one = loopSteps(cfg, 4);
            List<Object[]> ranks = dev.add4j.dist.Ranks.run(2, g -> loopSteps(cfg, 4));
            List<java.util.Map<String, Double>> want = (List<java.util.Map<String, Double>>) one[0];
            List<float[]> wantW = (List<float[]>) one[1];
            assertEquals(ranks.get(0)[0], ranks.get(1)[0], "every rank logs the same averaged statistics");
            double worstStat = 0, worstWeight = 0;
            for (Object[] got : ranks) {
                List<java.util.Map<String, Double>> st = (List<java.util.Map<String, Double>>) got[0];
                for (int k = 0; k < 4; k++)
                    for (var e : want.get(k).entrySet())
                        worstStat = Math.max(worstStat, Math.abs(e.getValue() - st.get(k).get(e.getKey())) / Math.max(Math.abs(e.getValue()), 1e-2));
                List<float[]> w = (List<float[]>) got[1];
                for (int i = 0; i < w.size(); i++)
                    for (int j = 0; j < w.get(i).length; j++) worstWeight = Math.max(worstWeight, Math.abs(w.get(i)[j] - wantW.get(i)[j]));
            }
            System.out.printf("DinoPretrainStepTest %s, 2 ranks x 16 against 1 x 32, 4 steps: statistics differ by %.2e (relative), weights by %.2e%n",
                    o, worstStat, worstWeight);
            assertTrue(worstStat < 1e-4, o + ": statistics differ by " + worstStat);
            assertTrue(worstWeight < 1e-4, o + ": weights differ by " + worstWeight);
        }
        var b = assertThrows(dev.add4j.Add4jException.class, () -> new FeatureTrainer(tinyConfig(FeatureTrainConfig.Objective.SUPERVISED, 4, 1e-3)).checkRanks(3));
        assertTrue(b.getMessage().contains("--batch 32"), b.getMessage());
    }

    @Test void trainerReportsOneStatsPerStepAndProgressLines() {
        FeatureTrainer trainer = new FeatureTrainer(tinyConfig(FeatureTrainConfig.Objective.DINO, 4, 1e-3));
        List<String> lines = new java.util.ArrayList<>();
        try (var step = trainer.newStep(CPU)) {
            FeatureTrainer.Summary s = trainer.train(step, images, labels, lines::add, 2);
            assertEquals(4, s.history().size());
            assertEquals(2, lines.size());
            assertTrue(lines.get(1).startsWith("step 4/4 (100.0%) loss "), lines.get(1));
            assertTrue(lines.get(1).contains("h_mean") && lines.get(1).contains("eta 0s"), lines.get(1));
        }
    }

    @Test void maskedTokensReplaceHiddenPatchesOnly() {
        torch.manual_seed(0);
        Vit vit = new Vit(Vit.Config.tiny());
        try (var scope = new PointerScope()) {
            Tensor x = images.narrow(0, 0, 2), token = torch.randn(1, 1, vit.width());
            long n = (long) vit.config().gridSide() * vit.config().gridSide();
            Tensor none = torch.zeros(new long[]{2, n}, Ops.floatOn(CPU)).to(torch.ScalarType.Bool);
            assertTrue(torch.allclose(vit.tokens(x, none, token), vit.tokens(x), 0, 0, false), "nothing hidden: the plain tokens");
            // everything hidden: the input no longer matters, so two different images give the same tokens
            Tensor all = none.logical_not();
            Tensor t = vit.tokens(x, all, token);
            assertTrue(torch.allclose(t.select(0, 0), t.select(0, 1), 1e-5, 1e-6, false));
        }
    }

    @Test void maskedTokenLossIsTheCrossEntropyAtHiddenPatches() {
        try (var scope = new PointerScope()) {
            Tensor t = Ops.fromFloats(new float[]{1, 0}, 1, 2), s = Ops.fromFloats(new float[]{0, 1}, 1, 2);
            double[] pt = softmax(1, 0), ps = softmax(0, 1);
            double expected = -(pt[0] * Math.log(ps[0]) + pt[1] * Math.log(ps[1]));
            assertEquals(expected, Ops.f(DinoPretrainStep.maskedTokenLoss(DinoPretrainStep.centred(t, torch.zeros(1, 2), 1.0), s, 1.0)), 1e-6);
        }
    }

    @Test void ibotRunTrainsTheMaskTokenAndStaysFinite() {
        FeatureTrainConfig cfg = tinyConfig(FeatureTrainConfig.Objective.DINO, 10, 1e-3)
                .withDino(DinoPretrainStep.Config.tiny().withMaskedTokens(1.0));
        FeatureTrainer trainer = new FeatureTrainer(cfg);
        try (var step = (DinoPretrainStep) trainer.newStep(CPU)) {
            FeatureTrainer.Summary s = trainer.train(step, images, labels, line -> {}, 1000);
            for (PretrainStep.Stats st : s.history()) assertTrue(Double.isFinite(st.loss()));
            assertTrue(step.maskToken().abs().sum().item_double() > 0, "the mask token starts at 0 and must move");
        }
    }

    @Test void sinkhornTargetsShareThePrototypesEquallyAndRowsSumToOne() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(1);
            Tensor logits = torch.randn(8, 4).mul(Ops.s(0.1)).add(torch.randn(1, 4)); // one prototype favoured by every row
            Tensor q = DinoPretrainStep.sinkhornKnopp(logits, 0.1, 50);
            assertTrue(torch.allclose(q.sum(new long[]{1}), torch.ones(8), 1e-4, 1e-4, false), "rows sum to 1");
            assertTrue(torch.allclose(q.sum(new long[]{0}), torch.full(new long[]{4}, Ops.s(2)), 1e-2, 1e-2, false),
                    "each of 4 prototypes gets 8/4 rows");
        }
    }

    @Test void koleoFallsAsTheEmbeddingsSpreadOut() {
        try (var scope = new PointerScope()) {
            Tensor close = Ops.fromFloats(new float[]{1, 0, 0.99f, 0.1f, 0.98f, -0.1f}, 3, 2);
            Tensor spread = Ops.fromFloats(new float[]{1, 0, -0.5f, 0.87f, -0.5f, -0.87f}, 3, 2);
            assertTrue(Ops.f(DinoPretrainStep.koleo(spread)) < Ops.f(DinoPretrainStep.koleo(close)));
            // three points 120 degrees apart on the circle: nearest distance sqrt(3)
            assertEquals(-Math.log(Math.sqrt(3)), Ops.f(DinoPretrainStep.koleo(spread)), 1e-3);
        }
    }

    @Test void infoNceIsTheCrossEntropyOfPickingTheSameImageInTheOtherView() {
        try (var scope = new PointerScope()) {
            // B = 2, both views embed image i as e_i: logits 1/tau on the diagonal, 0 off it
            Tensor e = Ops.fromFloats(new float[]{1, 0, 0, 1, 1, 0, 0, 1}, 4, 2);
            double ce = Math.log(1 + Math.exp(-1 / 0.2));
            assertEquals(2 * ce * 0.2, Ops.f(DinoPretrainStep.infoNce(e, e, 2, 0, 0.2)), 1e-6);
            // swapped partners in the teacher's second view: the student's view 0 now points at the wrong image
            Tensor swapped = Ops.fromFloats(new float[]{1, 0, 0, 1, 0, 1, 1, 0}, 4, 2);
            assertTrue(Ops.f(DinoPretrainStep.infoNce(e, swapped, 2, 0, 0.2)) > 1.0);
        }
    }
}
