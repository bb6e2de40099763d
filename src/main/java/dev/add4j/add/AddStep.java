package dev.add4j.add;

import dev.add4j.add.Phases.Phase;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.disc.Discriminator;
import dev.add4j.disc.LocalBatchNorm;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import dev.add4j.train.Optimizers;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static dev.add4j.add.Phases.Phase.*;

/**
 * One ADD iteration (add-method.md §4): a student update with L_adv + λ·L_distill, then a discriminator update
 * with the hinge loss and R1. Data, EMA, logging and checkpoints are {@link AddTrainer}'s and its loop's.
 */
public final class AddStep {
    private final AddConfig cfg;
    private final VPredictionModel student;
    private final TeacherTarget teacher;
    private final Discriminator disc;
    private final Adam studentOpt, discOpt;
    private final Tensor studentTimesteps; // [N] int64
    private final TensorVector studentParams;
    private final Regression regression;
    private Phases phases = Phases.NONE;

    /** The regression term of {@link AddConfig#regWeight}: its loss for a student at an iteration, with its graph. */
    public interface Regression {
        Regression NONE = (student, step) -> { throw new IllegalStateException("no regression pairs"); };
        Tensor loss(VPredictionModel student, long step);
    }

    public AddStep(AddConfig cfg, VPredictionModel student, TeacherTarget teacher, Discriminator disc, Adam studentOpt, Adam discOpt) {
        this(cfg, student, teacher, disc, studentOpt, discOpt, Regression.NONE);
    }

    /** @param regression the regression term's loss, used when {@code cfg.extras().regWeight() > 0} */
    public AddStep(AddConfig cfg, VPredictionModel student, TeacherTarget teacher, Discriminator disc, Adam studentOpt, Adam discOpt,
                   Regression regression) {
        this.regression = regression;
        this.cfg = cfg;
        this.student = student;
        this.teacher = teacher;
        this.disc = disc;
        this.studentOpt = studentOpt;
        this.discOpt = discOpt;
        long[] ts = cfg.paper().studentTimesteps().stream().mapToLong(Integer::longValue).toArray();
        this.studentTimesteps = Ops.fromLongs(ts, ts.length).retainReference();
        this.studentParams = student.net().parameterVector().retainReference(); // outlives the caller's scope
    }

    /**
     * Tells {@code phases} where each phase of every later iteration begins and ends (add4j bench's clock);
     * {@link Phases#NONE} stops that. What the step computes does not change.
     * @return this step
     */
    public AddStep timePhases(Phases phases) {
        this.phases = phases;
        return this;
    }

    /**
     * One iteration on a batch of real images x0 and their captions; randomness from (seed, step) only.
     * @return every loss and a few discriminator statistics, as Java numbers
     */
    public Map<String, Double> step(Tensor x0, TextCond text, long step) { return step(x0, text, step, true); }

    /**
     * As {@link #step(Tensor, TextCond, long)}; without {@code studentLearns} (the discriminator's warm-up, where the
     * heads learn alone first) the student makes its x̂ without a graph, and only the discriminator is updated.
     */
    public Map<String, Double> step(Tensor x0, TextCond text, long step, boolean studentLearns) {
        try (var scope = new PointerScope()) {                                   // every tensor made below is freed here
            Input in = timed(NOISED_INPUT, () -> noisedInput(x0, text, step));   // 4.2  x_s = alpha_s x0 + sigma_s eps
            Tensor x0Hat = timed(STUDENT_PASS, () -> studentPass(in, studentLearns));            // 4.3  x̂_θ(x_s, s, c)
            Map<String, Double> stats = new LinkedHashMap<>();
            if (studentLearns) {
                Tensor lAdv = timed(ADVERSARIAL_LOSS, () -> adversarialLoss(x0Hat, in));         // 4.4  L_adv^G
                Tensor lDistill = timed(DISTILLATION_LOSS, () -> distillationLoss(x0Hat, in));  // 4.5  L_distill
                Tensor lReg = timed(REGRESSION_LOSS, () -> regressionLoss(in, step));           //      mu L_reg, when on
                Tensor lG = timed(STUDENT_UPDATE, () -> studentUpdate(x0Hat, lAdv, lDistill, lReg, stats));  // 4.6  L_G
                logStudent(stats, lG, lAdv, lDistill, lReg);
            }
            if (cfg.paper().loss().adversarial()) {                                      // 4.7  L_D = hinge + gamma R1
                DiscriminatorLoss lD = timed(DISCRIMINATOR_LOSS, () -> discriminatorLoss(x0Hat.detach(), in));
                Tensor lR1 = timed(R1_PENALTY, () -> r1Penalty(lD, in));
                timed(DISCRIMINATOR_UPDATE, () -> discriminatorUpdate(lD, lR1, stats));
                logDiscriminator(stats, lD, lR1);
            }
            return stats;
        }
    }

    /**
     * What every later draw of an iteration needs: the real batch, the generator seeded by (seed, step), s per
     * sample, x_s, and the heads' condition (null without the adversarial loss).
     */
    private record Input(Tensor x0, TextCond text, Generator gen, Tensor s, Tensor xS, Tensor cond) {}

    /** §4.2: s uniform over the student timesteps (999: pure noise), x_s = α_s x0 + σ_s ε, and the heads' condition. */
    private Input noisedInput(Tensor x0, TextCond text, long step) {
        Generator gen = torch.make_generator_cpu(cfg.seed() * 1_000_003L + step);
        Tensor s = studentTimesteps(x0.size(0), gen).to(x0.device(), torch.ScalarType.Long);          // [B]
        Tensor eps = Shard.current().randn(gen, Ops.shape(x0)).to(x0.device(), torch.ScalarType.Float);
        Tensor xS = student.schedule().noised(x0, eps, s);                                              // [B,C,H,W]
        Tensor seen = s.lt(Ops.s(cfg.paper().studentTimesteps().get(0)));                                      // [B] input holds x0
        Tensor cond = cfg.paper().loss().adversarial() ? disc.condition(text, x0, seen) : null;                 // [B,condDim]
        return new Input(x0, text, gen, s, xS, cond);
    }

    /** §4.3: the student's x0 estimate [B,C,H,W]; without a graph in an iteration where the student does not learn. */
    private Tensor studentPass(Input in, boolean withGraph) {
        if (withGraph) return student.x0(in.xS(), in.s(), in.text());
        try (var noGrad = new NoGradGuard()) {
            return student.x0(in.xS(), in.s(), in.text());
        }
    }

    /** §4.4: L_adv^G on the student's estimate, through the heads (frozen during the student's update); 0 when off. */
    private Tensor adversarialLoss(Tensor x0Hat, Input in) {
        if (!cfg.paper().loss().adversarial()) return zero(in);
        return AddLosses.adversarialG(disc.logits(x0Hat, in.text(), in.cond(), in.gen()));
    }

    /** §4.5: L_distill against the teacher's estimate from the re-noised sg(x̂_θ); 0 when off. */
    private Tensor distillationLoss(Tensor x0Hat, Input in) {
        if (!cfg.paper().loss().distillation()) return zero(in);
        return AddLosses.distillation(x0Hat, teacher.of(x0Hat, in.text(), in.gen()));
    }

    /** The regression term (DMD's, {@link AddConfig#regWeight}); 0 when off. */
    private Tensor regressionLoss(Input in, long step) {
        return cfg.regression() ? regression.loss(student, step) : zero(in);
    }

    /**
     * §4.6: one step on L_G = w·L_adv + λ·L_distill + μ·L_reg. The adversarial weight w is 1 (the paper) or the one
     * {@link AddConfig#advRatio} asks for ({@link StudentSignal}, which also logs each loss's pull on x̂_θ).
     * @return L_G
     */
    private Tensor studentUpdate(Tensor x0Hat, Tensor lAdv, Tensor lDistill, Tensor lReg, Map<String, Double> stats) {
        double wAdv = StudentSignal.of(lAdv, lDistill.mul(Ops.s(cfg.paper().lambda())), x0Hat, cfg, stats);
        Tensor lG = lAdv.mul(Ops.s(wAdv)).add(lDistill.mul(Ops.s(cfg.paper().lambda()))).add(lReg.mul(Ops.s(cfg.extras().regWeight())));
        stats.put("skip_g", update(studentOpt, lG, true) ? 0.0 : 1.0);
        return lG;
    }

    /** §4.7's parts before R1: the real images' head inputs (leaves, for R1), real and fake logits, the hinge loss. */
    private record DiscriminatorLoss(Discriminator.RealInputs realInputs, List<Tensor> real, List<Tensor> fake, Tensor hinge) {}

    /** §4.7: the hinge loss on real images and on sg(x̂_θ), which the caller detaches: the student is not trained here. */
    private DiscriminatorLoss discriminatorLoss(Tensor fakeX0, Input in) {
        Discriminator.RealInputs realInputs = disc.realInputs(in.x0(), in.text(), in.gen());
        List<Tensor> real = disc.heads().logits(realInputs.headInputs(), in.cond());
        List<Tensor> fake = disc.logits(fakeX0, in.text(), in.cond(), in.gen());
        return new DiscriminatorLoss(realInputs, real, fake, AddLosses.hingeD(real, fake));
    }

    /** §4.7: R1 on the heads' input features of the real images, its graph kept for the update; 0 when γ is 0. */
    private Tensor r1Penalty(DiscriminatorLoss lD, Input in) {
        return cfg.paper().r1() > 0 ? AddLosses.r1Penalty(lD.real(), lD.realInputs().r1Leaves()) : zero(in);
    }

    /** §4.7: one step on L_D = hinge + γ·R1, one backward pass through both. */
    private void discriminatorUpdate(DiscriminatorLoss lD, Tensor lR1, Map<String, Double> stats) {
        stats.put("skip_d", update(discOpt, lD.hinge().add(lR1.mul(Ops.s(cfg.paper().r1()))), false) ? 0.0 : 1.0);
    }

    /**
     * One optimiser step on {@code loss} ({@link Optimizers#stepIfFinite}: a non-finite step is skipped and counted
     * by the caller); the heads take no gradient during the student's update.
     * @return whether the step was taken
     */
    private boolean update(Adam opt, Tensor loss, boolean student) {
        disc.requiresGrad(!student);
        try {
            return Optimizers.stepIfFinite(opt, loss, student ? studentParams : disc.parameters());
        } finally {
            disc.requiresGrad(true);
        }
    }

    /** Runs one phase between the hook's two calls; the hook never sees the work, so it cannot change it. */
    private <T> T timed(Phase phase, Supplier<T> work) {
        phases.before(phase);
        T result = work.get();
        phases.after(phase);
        return result;
    }

    private void timed(Phase phase, Runnable work) {
        timed(phase, () -> { work.run(); return null; });
    }

    private void logStudent(Map<String, Double> stats, Tensor lG, Tensor lAdv, Tensor lDistill, Tensor lReg) {
        putFinite(stats, "loss_g", lG);
        putFinite(stats, "loss_adv", lAdv);
        putFinite(stats, "loss_distill", lDistill);
        if (cfg.regression()) putFinite(stats, "loss_reg", lReg);
    }

    /** The hinge loss, R1, the mean logits and the accuracy, over all heads and per head. */
    private static void logDiscriminator(Map<String, Double> stats, DiscriminatorLoss lD, Tensor lR1) {
        List<Tensor> real = lD.real(), fake = lD.fake();
        putFinite(stats, "loss_d", lD.hinge());
        putFinite(stats, "r1", lR1);
        putFinite(stats, "d_real", mean(real));
        putFinite(stats, "d_fake", mean(fake));
        stats.put("d_acc", accuracy(real, fake));
        for (int k = 0; k < real.size(); k++) stats.put("d_acc" + k, accuracy(real.subList(k, k + 1), fake.subList(k, k + 1)));
    }

    private static void putFinite(Map<String, Double> stats, String key, Tensor value) {
        double v = Ops.f(value);
        if (Double.isFinite(v)) stats.put(key, v);
    }

    /**
     * s drawn uniformly from the student timesteps, per sample; with class groups one s per group, so that a group
     * of fakes made from pure noise shows the heads whether the student uses its noise. [B] int64 on the CPU.
     */
    private Tensor studentTimesteps(long b, Generator gen) {
        long group = cfg.extras().classGroups() ? LocalBatchNorm.GROUP : 1;
        Tensor idx = Shard.current().randint(studentTimesteps.size(0), new long[]{b / group}, gen);
        if (group > 1) idx = idx.repeat_interleave(group);
        return torch.index_select(studentTimesteps, 0, idx);
    }

    private static Tensor zero(Input like) { return torch.zeros(1).to(like.x0().device(), torch.ScalarType.Float).squeeze(); }

    private static Tensor mean(List<Tensor> logits) {
        Tensor sum = logits.get(0).mean();
        for (int k = 1; k < logits.size(); k++) sum = sum.add(logits.get(k).mean());
        return sum.div(Ops.s(logits.size()));
    }

    /** Per-token accuracy of the discriminator: real logits > 0 and fake logits < 0, over all heads. */
    private static double accuracy(List<Tensor> real, List<Tensor> fake) {
        double right = 0, total = 0;
        for (Tensor r : real) { right += Ops.f(r.gt(Ops.s(0)).sum()); total += r.numel(); }
        for (Tensor f : fake) { right += Ops.f(f.lt(Ops.s(0)).sum()); total += f.numel(); }
        return right / total;
    }
}
