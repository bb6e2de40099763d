package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;

/**
 * The loop around a {@link PretrainStep}: draws batches, computes the schedules, reports progress. Read top to
 * bottom in {@link #train}. Data sits on the training device as one tensor; batches are drawn uniformly with
 * replacement from a seeded generator [choice: no epochs, so any step count is valid].
 */
public final class FeatureTrainer {

    /**
     * What a run measured.
     * @param history        every step's statistics, in order
     * @param firstLoss      mean loss of the first tenth of the steps (at least one)
     * @param lastLoss       mean loss of the last tenth of the steps (at least one)
     * @param secondsPerStep mean wall time of a step, the first one excluded when there are several
     */
    public record Summary(List<PretrainStep.Stats> history, double firstLoss, double lastLoss, double secondsPerStep) {
        /** The last step's statistics. */
        public PretrainStep.Stats last() { return history.get(history.size() - 1); }
    }

    private final FeatureTrainConfig cfg;

    /** A loop for the run {@code cfg}. */
    public FeatureTrainer(FeatureTrainConfig cfg) { this.cfg = cfg; }

    /** The run's settings. */
    public FeatureTrainConfig config() { return cfg; }

    /**
     * A fresh step for the run's objective on {@code device}, its weights drawn from the run's seed.
     * Call outside any step scope; close it when done.
     */
    public PretrainStep newStep(Device device) {
        torch.manual_seed(cfg.seed());
        Augment augment = new Augment(cfg.augment(), cfg.seed());
        return switch (cfg.objective()) {
            case DINO -> new DinoPretrainStep(cfg.vit(), cfg.dino(), augment, cfg.weightDecay(), cfg.clipGrad(), device);
            case SUPERVISED -> new SupervisedPretrainStep(cfg.vit(), FashionMnist.CLASSES, augment, cfg.weightDecay(), cfg.clipGrad(), device);
        };
    }

    /** The scheduled values at step {@code k}: warm-up + cosine lr, cosine teacher momentum to 1, teacher-temperature ramp. */
    public PretrainStep.At schedule(int k) {
        int total = cfg.steps();
        DinoPretrainStep.Config d = cfg.dino();
        return new PretrainStep.At(
                Schedules.warmupCosine(k, total, (int) Math.round(cfg.warmup() * total), cfg.lr(), cfg.minLr()),
                Schedules.cosine(k, total, d.teacherMomentum(), 1.0),
                Schedules.linearThenConstant(k, (int) Math.round(d.teacherTempWarmup() * total), d.teacherTempStart(), d.teacherTemp()),
                k < Math.round(d.freezeLastLayer() * total));
    }

    /**
     * Trains {@code step} for the configured number of steps.
     * @param images   all training images [N,C,S,S] in [-1,1], on the step's device
     * @param labels   their classes [N] (int64), same device
     * @param log      receives a progress line every {@code logEvery} steps and at the last step
     * @throws Add4jException when the loss becomes NaN or infinite (with the step and what to try)
     */
    public Summary train(PretrainStep step, Tensor images, Tensor labels, Consumer<String> log, int logEvery) {
        return train(step, images, labels, log, logEvery, 0, k -> true);
    }

    /**
     * Trains {@code step} from step {@code start} (the steps a checkpoint holds) to the configured number of steps.
     * Batches and augmentations are drawn from generators seeded by (seed, step), so a resumed run repeats exactly
     * what an uninterrupted one does.
     * @param afterStep called with the number of steps done after each step, outside the step's scope (k-NN,
     *                  checkpoints); returning false stops the run there
     */
    public Summary train(PretrainStep step, Tensor images, Tensor labels, Consumer<String> log, int logEvery,
                         int start, IntPredicate afterStep) {
        long n = images.size(0);
        Generator batches = torch.make_generator_cpu(cfg.seed() + 1);
        batches.retainReference();
        List<PretrainStep.Stats> history = new ArrayList<>();
        long begin = System.nanoTime(), afterFirst = begin;
        try {
            for (int k = start; k < cfg.steps(); k++) {
                PretrainStep.Stats stats;
                batches.set_current_seed(stepSeed(cfg.seed() + 1, k));
                step.reseed(stepSeed(cfg.seed(), k));
                try (var scope = new PointerScope()) {                     // the batch is freed with the step's tensors
                    Tensor idx = torch.randint(n, new long[]{cfg.batch()}, new GeneratorOptional(batches))
                            .to(images.device(), torch.ScalarType.Long);                                     // [B]
                    stats = step.step(images.index_select(0, idx), labels.index_select(0, idx), schedule(k)); // [B,C,S,S], [B]
                }
                if (!Double.isFinite(stats.loss()))
                    throw new Add4jException("the loss became " + stats.loss() + " at step " + (k + 1) + "; try a lower --lr");
                history.add(stats);
                if (k == start) afterFirst = System.nanoTime();
                int done = history.size();
                if ((k + 1) % Math.max(1, logEvery) == 0 || k + 1 == cfg.steps())
                    log.accept(progress(k + 1, stats, step(begin, afterFirst, done), schedule(k).lr()));
                if (!afterStep.test(k + 1)) break;
            }
        } finally {
            batches.releaseReference();
        }
        if (history.isEmpty()) return new Summary(List.of(), Double.NaN, Double.NaN, Double.NaN);
        return new Summary(List.copyOf(history), meanLoss(history, 0), meanLoss(history, history.size() - tenth(history.size())),
                step(begin, afterFirst, history.size()));
    }

    /** A generator seed for step {@code k} of a run seeded {@code seed} (a SplitMix64 mix, so nearby seeds differ). */
    static long stepSeed(long seed, int k) {
        long z = seed * 0x9E3779B97F4A7C15L + k + 1;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (z ^ (z >>> 31)) & Long.MAX_VALUE;
    }

    /** Mean seconds per step so far; the first step (JIT, allocator warm-up) is left out once there are others. */
    private static double step(long start, long afterFirst, int done) {
        long now = System.nanoTime();
        return done <= 1 ? (now - start) / 1e9 : (now - afterFirst) / 1e9 / (done - 1);
    }

    private String progress(int k, PretrainStep.Stats s, double secPerStep, double lr) {
        StringBuilder b = new StringBuilder(String.format("step %d/%d  loss %.4f", k, cfg.steps(), s.loss()));
        if (!Double.isNaN(s.entropy())) b.append(String.format("  H(teacher) %.2f  H(mean) %.2f", s.entropy(), s.marginalEntropy()));
        if (!Double.isNaN(s.accuracy())) b.append(String.format("  acc %.3f", s.accuracy()));
        b.append(String.format("  lr %.2e  %.3f s/step  ETA %s", lr, secPerStep, clock(secPerStep * (cfg.steps() - k))));
        return b.toString();
    }

    /** Seconds as m:ss or h:mm:ss. */
    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
    }

    private static int tenth(int n) { return Math.max(1, n / 10); }

    private static double meanLoss(List<PretrainStep.Stats> h, int from) {
        return h.subList(from, Math.min(h.size(), from + tenth(h.size()))).stream().mapToDouble(PretrainStep.Stats::loss).average().orElse(Double.NaN);
    }

    /**
     * The first {@code n} images of a split as one float32 tensor [n,1,32,32] in [-1,1] on {@code device}, built
     * 4096 images at a time so the Java heap never holds the whole set.
     */
    public static Tensor images(FashionMnist.Split split, int n, Device device) {
        Tensor out = torch.zeros(new long[]{n, 1, FashionMnist.PADDED, FashionMnist.PADDED}, Ops.floatOn(device)); // [n,1,32,32]
        for (int i = 0; i < n; i += 4096) {
            int m = Math.min(4096, n - i);
            try (var scope = new PointerScope()) {
                out.narrow(0, i, m).copy_(FashionMnist.images(split, IntStream.range(i, i + m).toArray()));
            }
        }
        return out;
    }

    /** The first {@code n} labels of a split as an int64 tensor [n] on {@code device}. */
    public static Tensor labels(FashionMnist.Split split, int n, Device device) {
        return FashionMnist.labels(split, IntStream.range(0, n).toArray()).to(device, torch.ScalarType.Long); // [n]
    }
}
