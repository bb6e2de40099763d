package dev.add4j.features;

import dev.add4j.Add4jException;

import java.util.Locale;

/**
 * Everything that defines a feature-pretraining run; written as JSON into the saved network's metadata.
 * @param objective   what the network learns from: DINO self-distillation or class labels
 * @param vit         the backbone's architecture
 * @param dino        DINO's settings (kept, unused, for the supervised objective)
 * @param augment     augmentation strengths (both objectives)
 * @param steps       optimisation steps
 * @param batch       images per step
 * @param lr          peak learning rate (DINO: 5e-4 x batch / 256)
 * @param minLr       learning rate at the last step (DINO: 1e-6)
 * @param warmup      fraction of the steps of linear learning-rate warm-up (DINO: 10 of 100 epochs)
 * @param weightDecay AdamW weight decay on weight matrices (DINO: 0.04, kept constant here [choice]; DINO raises it to 0.4)
 * @param clipGrad    global gradient-norm clip, 0 for none (DINO: 3, per parameter; global here [choice])
 * @param seed        seed of the initialisation, the augmentations and the batch order
 */
public record FeatureTrainConfig(Objective objective, Vit.Config vit, DinoPretrainStep.Config dino, Augment.Config augment,
                                 int steps, int batch, double lr, double minLr, double warmup, double weightDecay,
                                 double clipGrad, long seed) {

    /** What the feature network is trained on. */
    public enum Objective {
        /** DINO self-distillation (Caron et al. 2021): no labels. */
        DINO,
        /** Cross-entropy of a linear classifier on the CLS embedding. */
        SUPERVISED;

        /** Parses a command-line value, case-insensitively. */
        public static Objective parse(String s) {
            for (Objective o : values()) if (o.name().equalsIgnoreCase(s == null ? "" : s.trim())) return o;
            throw new Add4jException("--objective: expected dino or supervised, got '" + s + "'");
        }

        /** The command-line spelling. */
        public String cliName() { return name().toLowerCase(Locale.ROOT); }
    }

    public FeatureTrainConfig {
        if (objective == null || vit == null || dino == null || augment == null)
            throw new IllegalArgumentException("FeatureTrainConfig: objective, vit, dino and augment are required");
        if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        if (batch < 2) throw new IllegalArgumentException("batch must be >= 2, got " + batch);
        if (!(lr > 0) || minLr < 0) throw new IllegalArgumentException("lr must be > 0 and minLr >= 0, got " + lr + " and " + minLr);
        if (warmup < 0 || warmup >= 1) throw new IllegalArgumentException("warmup is a fraction of the steps in [0,1), got " + warmup);
        if (weightDecay < 0 || clipGrad < 0)
            throw new IllegalArgumentException("weightDecay and clipGrad must be >= 0, got " + weightDecay + " and " + clipGrad);
    }

    /** DINO's learning rate for a batch: 5e-4 x batch / 256 (their linear scaling rule). */
    public static double dinoLr(int batch) { return 5e-4 * batch / 256.0; }

    /**
     * DINO's recipe (scaled to 32 px Fashion-MNIST where {@link DinoPretrainStep.Config#defaults()} says) for the
     * given objective, architecture, steps, batch and seed.
     */
    public static FeatureTrainConfig defaults(Objective objective, Vit.Config vit, int steps, int batch, long seed) {
        return new FeatureTrainConfig(objective, vit, DinoPretrainStep.Config.defaults(), Augment.Config.dino(),
                steps, batch, dinoLr(batch), 1e-6, 0.1, 0.04, 3.0, seed);
    }

    /** A copy with another learning rate. */
    public FeatureTrainConfig withLr(double newLr) {
        return new FeatureTrainConfig(objective, vit, dino, augment, steps, batch, newLr, minLr, warmup, weightDecay, clipGrad, seed);
    }

    /** A copy with other DINO settings. */
    public FeatureTrainConfig withDino(DinoPretrainStep.Config newDino) {
        return new FeatureTrainConfig(objective, vit, newDino, augment, steps, batch, lr, minLr, warmup, weightDecay, clipGrad, seed);
    }
}
