package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import dev.add4j.dist.Group;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import dev.add4j.train.Stage;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * A feature network's run around a {@link PretrainStep}, as one stage of the {@link TrainLoop}: draws the batches and
 * computes the schedules; the loop does progress, checkpoints and restarts. Data sits on the training device as one
 * tensor; batches are drawn uniformly with replacement from a seeded generator [choice: no epochs, so any step count
 * is valid].
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
    public PretrainStep newStep(Device device) { return newStep(device, FashionMnist.CLASSES); }

    /** As {@link #newStep(Device)}, a supervised step predicting {@code classes} classes. */
    public PretrainStep newStep(Device device, int classes) {
        checkRanks(Group.current().size());
        Augment augment = new Augment(cfg.augment(), cfg.seed());
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {           // seeded draws, no other thread's in between (ranks as threads)
            torch.manual_seed(cfg.seed());
            return switch (cfg.objective()) {
                case DINO -> new DinoPretrainStep(cfg.vit(), cfg.dino(), augment, cfg.weightDecay(), cfg.clipGrad(), device);
                case SUPERVISED -> new SupervisedPretrainStep(cfg.vit(), classes, augment, cfg.weightDecay(), cfg.clipGrad(), device);
            };
        }
    }

    /**
     * Refuses what {@code ranks} data-parallel ranks would not compute as one process does: a batch that does not
     * split evenly.
     */
    public void checkRanks(int ranks) {
        if (cfg.batch() % ranks != 0)
            throw new Add4jException("--batch " + cfg.batch() + " does not split over " + ranks + " ranks: make it a multiple of " + ranks);
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
     * Trains {@code step} for the configured number of steps, with nothing saved (tests; the command saves through
     * {@link TrainLoop#saving}).
     * @param images all training images [N,C,S,S] in [-1,1], on the step's device
     * @param labels their classes [N] (int64), same device
     * @param log    receives a progress line every {@code logEvery} steps and at the last step
     * @throws TrainLoop.NonFinite when the loss becomes NaN or infinite
     */
    public Summary train(PretrainStep step, Tensor images, Tensor labels, Consumer<String> log, int logEvery) {
        try (Run run = run(step, images, labels)) {
            new TrainLoop(List.of(run.stage())).console(log).run(new TrainLoop.Options(logEvery, 0, 0, 0, null));
            return run.summary();
        }
    }

    /**
     * The run of {@code step} on {@code images} [N,C,S,S] in [-1,1] and their {@code labels} [N] (int64), on the step's
     * device; close it when done.
     */
    public Run run(PretrainStep step, Tensor images, Tensor labels) { return new Run(step, images, labels); }

    /**
     * One run's steps, as a {@link Stage}, and what they measured. Batches and augmentations come from generators
     * seeded by (seed, step), so a resumed run repeats exactly what an uninterrupted one does.
     */
    public final class Run implements AutoCloseable {
        private final PretrainStep step;
        private final Tensor images, labels;
        private final Generator batches = torch.make_generator_cpu(cfg.seed() + 1);
        private final List<PretrainStep.Stats> history = new ArrayList<>();
        private long begin, afterFirst;

        private Run(PretrainStep step, Tensor images, Tensor labels) {
            this.step = step;
            this.images = images;
            this.labels = labels;
            batches.retainReference();
        }

        /** The run's steps: the objective's name, its loss, entropies or accuracy, and learning rate per step. */
        public Stage stage() { return Stage.of(cfg.objective().cliName(), cfg.steps(), s -> step((int) s)); }

        private Map<String, Double> step(int k) {
            if (history.isEmpty()) begin = System.nanoTime();
            batches.set_current_seed(stepSeed(cfg.seed() + 1, k));
            step.reseed(stepSeed(cfg.seed(), k));
            PretrainStep.Stats st;
            try (var scope = new PointerScope()) {                         // the batch is freed with the step's tensors
                Shard shard = Shard.current();                             // this rank's rows of the batch
                Tensor idx = shard.randint(images.size(0), new long[]{cfg.batch() / shard.ranks()}, batches)
                        .to(images.device(), torch.ScalarType.Long);                                 // [B/W]
                st = step.step(images.index_select(0, idx), labels.index_select(0, idx), schedule(k)); // [B,C,S,S], [B]
            }
            history.add(st);
            if (history.size() == 1) afterFirst = System.nanoTime();
            Map<String, Double> out = new LinkedHashMap<>();
            out.put("loss", st.loss());
            if (!Double.isNaN(st.entropy())) out.put("h_teacher", st.entropy());          // NaN: not the objective's
            if (!Double.isNaN(st.marginalEntropy())) out.put("h_mean", st.marginalEntropy());
            if (!Double.isNaN(st.accuracy())) out.put("acc", st.accuracy());
            out.put("lr", schedule(k).lr());
            return out;
        }

        /** What the steps run so far measured. */
        public Summary summary() {
            int n = history.size();
            if (n == 0) return new Summary(List.of(), Double.NaN, Double.NaN, Double.NaN);
            long now = System.nanoTime();
            double perStep = n <= 1 ? (now - begin) / 1e9 : (now - afterFirst) / 1e9 / (n - 1);   // the first step left out
            return new Summary(List.copyOf(history), meanLoss(history, 0), meanLoss(history, n - tenth(n)), perStep);
        }

        @Override public void close() { batches.releaseReference(); }
    }

    /** A generator seed for step {@code k} of a run seeded {@code seed} (a SplitMix64 mix, so nearby seeds differ). */
    static long stepSeed(long seed, int k) {
        long z = seed * 0x9E3779B97F4A7C15L + k + 1;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (z ^ (z >>> 31)) & Long.MAX_VALUE;
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
