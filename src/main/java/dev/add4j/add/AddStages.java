package dev.add4j.add;

import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.disc.LocalBatchNorm;
import dev.add4j.dist.Shard;
import dev.add4j.train.Stage;
import org.bytedeco.pytorch.Adam;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The stages of an ADD run, in order: the ODE warm-up ({@code --ode-warmup}: regression onto the teacher's pairs,
 * {@link OdeWarmup}), the discriminator's warm-up ({@code --disc-warmup}: ADD iterations in which only the heads
 * learn), then ADD ({@link AddStep}) on the batch of (seed, iteration). Each is off at 0 iterations. Also holds the
 * teacher's ODE pairs, made (or read back) on first use by the warm-up or the regression term, and freed when the
 * last stage that needs them ends.
 */
final class AddStages implements AutoCloseable {
    private final AddConfig cfg;
    private final CaptionedImages data;
    private final VPredictionModel teacher, student;
    private final Adam studentOpt;
    private final Path cache;
    private OdeWarmup pairs;

    /** @param cache the run directory's file of the pairs ({@link OdeWarmup#CACHE}) */
    AddStages(AddConfig cfg, CaptionedImages data, VPredictionModel teacher, VPredictionModel student, Adam studentOpt, Path cache) {
        this.cfg = cfg;
        this.data = data;
        this.teacher = teacher;
        this.student = student;
        this.studentOpt = studentOpt;
        this.cache = cache;
    }

    /** The regression term of ADD's iterations ({@link AddConfig#regWeight}): the warm-up's loss on the pairs. */
    AddStep.Regression regression() { return (st, s) -> pairs().loss(st, s); }

    /** The run's stages, ADD's iterations made by {@code step}. */
    List<Stage> list(AddStep step) {
        int warm = cfg.warmup().steps(), discWarm = cfg.extras().discWarmup();
        return List.of(
                Stage.of("ode-warmup", warm, this::warmupStep).finishing(() -> { if (!cfg.regression()) closePairs(); }),
                Stage.of("disc-warmup", discWarm, s -> addIteration(step, s, false)).modelFrozen(),
                Stage.of("add", cfg.steps() - warm - discWarm, s -> addIteration(step, s, true)).finishing(this::closePairs));
    }

    /** An ODE warm-up iteration, at the warm-up's learning rate. */
    private Map<String, Double> warmupStep(long s) {
        studentOpt.param_groups().get(0).options().set_lr(cfg.warmup().lrAt(s));
        return pairs().step(student, studentOpt, student.net().parameterVector(), s);
    }

    /**
     * An ADD iteration on the batch of (seed, s); without {@code studentLearns}, the discriminator's alone. With
     * {@link AddConfig.Extras#discSteps} K > 1, the heads first learn alone on K - 1 batches of their own (draws
     * {@link #EXTRA_DRAWS} + s(K-1) + j, which no iteration's own draw reaches), so the iteration itself draws as at K = 1.
     */
    private Map<String, Double> addIteration(AddStep step, long s, boolean studentLearns) {
        if (cfg.warmup().on()) studentOpt.param_groups().get(0).options().set_lr(cfg.optim().studentLr());
        int extra = studentLearns ? cfg.extras().discSteps() - 1 : 0;
        for (int j = 0; j < extra; j++) draw(step, EXTRA_DRAWS + s * extra + j, false);
        return draw(step, s, studentLearns);
    }

    /** Where the draws of the heads' extra updates begin: beyond any run's iterations. */
    static final long EXTRA_DRAWS = 1L << 40;

    /** {@link AddStep#step} on the batch and randomness of draw d. */
    private Map<String, Double> draw(AddStep step, long d, boolean studentLearns) {
        CaptionedImages.Batch b = cfg.extras().classGroups()                                   // no caption dropout: no guidance
                ? data.classGroupedBatch(cfg.seed(), d, cfg.batch(), LocalBatchNorm.GROUP)
                : data.batch(cfg.seed(), d, cfg.batch(), 0.0);
        b = b.rows(Shard.current());                                                           // this rank's rows
        return step.step(b.x0(), b.cond(), d, studentLearns);
    }

    private OdeWarmup pairs() {
        if (pairs == null) pairs = new OdeWarmup(teacher, data, cfg, cache, System.out);
        return pairs;
    }

    /** Frees the pairs and deletes their file: no resume needs them any more. */
    private void closePairs() {
        if (pairs != null) pairs.finish(System.out);
        pairs = null;
    }

    @Override public void close() {
        if (pairs != null) pairs.close();
        pairs = null;
    }
}
