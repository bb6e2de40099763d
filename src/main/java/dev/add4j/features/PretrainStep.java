package dev.add4j.features;

import org.bytedeco.pytorch.Tensor;

/**
 * One iteration of feature-network pretraining ({@link DinoPretrainStep} or {@link SupervisedPretrainStep}).
 * The step owns its networks and optimisers; the loop around it ({@link FeatureTrainer}) owns data, schedules,
 * progress and saving. Every tensor a step makes is freed before it returns; only Java numbers leave.
 */
public interface PretrainStep extends AutoCloseable {

    /**
     * The scheduled values of one step, computed by the loop (see {@link Schedules}).
     * @param lr              learning rate
     * @param teacherMomentum EMA momentum of DINO's teacher (unused by the supervised step)
     * @param teacherTemp     DINO's teacher temperature (unused by the supervised step)
     * @param freezeLastLayer whether DINO's prototype layer is held fixed this step (unused by the supervised step)
     */
    record At(double lr, double teacherMomentum, double teacherTemp, boolean freezeLastLayer) {}

    /**
     * What a step measured; NaN where an objective does not define a value.
     * @param loss            the objective's loss
     * @param entropy         DINO: mean entropy of the teacher's per-sample distribution (nats); 0 means one-hot outputs
     * @param marginalEntropy DINO: entropy of the teacher's batch-mean distribution (nats); near 0 means every sample
     *                        picks the same prototype (collapse), log K the uniform use of all prototypes
     * @param accuracy        supervised: fraction of the batch classified correctly
     */
    record Stats(double loss, double entropy, double marginalEntropy, double accuracy) {}

    /**
     * Runs one optimisation step.
     * @param images clean training images [B,C,S,S] in [-1,1], on the step's device
     * @param labels their classes [B] (int64); the DINO step ignores them
     */
    Stats step(Tensor images, Tensor labels, At at);

    /** The network to keep after training: DINO's EMA teacher (it gives the better features), or the supervised model. */
    Vit backbone();

    /** Reseeds the step's own randomness (augmentations, masks); the loop calls it before every step. */
    void reseed(long seed);

    /** Everything a resumed run needs back: networks (and DINO's centres) and optimiser states. */
    dev.add4j.io.Checkpoint.Parts parts();

    /** Frees the optimisers' native state; the networks stay usable. */
    @Override void close();
}
