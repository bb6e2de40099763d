package dev.add4j.add;

import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.nn.LocalBatchNorm;
import dev.add4j.nn.Ops;
import dev.add4j.train.Optimizers;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One ADD iteration (add-method.md §4): a student update with L_adv + λ·L_distill, then a discriminator update
 * with the hinge loss and R1. Data, EMA, logging and checkpoints are {@link AddTrainer}'s.
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
    private PhaseTimer timer = PhaseTimer.NONE;

    /** The regression term of {@link AddConfig#regWeight}: its loss for a student at an iteration, with its graph. */
    public interface Regression {
        Regression NONE = (student, step) -> { throw new IllegalStateException("no regression pairs"); };
        Tensor loss(VPredictionModel student, long step);
    }

    public AddStep(AddConfig cfg, VPredictionModel student, TeacherTarget teacher, Discriminator disc, Adam studentOpt, Adam discOpt) {
        this(cfg, student, teacher, disc, studentOpt, discOpt, Regression.NONE);
    }

    /** @param regression the regression term's loss, used when {@code cfg.regWeight() > 0} */
    public AddStep(AddConfig cfg, VPredictionModel student, TeacherTarget teacher, Discriminator disc, Adam studentOpt, Adam discOpt,
                   Regression regression) {
        this.regression = regression;
        this.cfg = cfg;
        this.student = student;
        this.teacher = teacher;
        this.disc = disc;
        this.studentOpt = studentOpt;
        this.discOpt = discOpt;
        long[] ts = cfg.studentTimesteps().stream().mapToLong(Integer::longValue).toArray();
        this.studentTimesteps = Ops.fromLongs(ts, ts.length).retainReference();
        this.studentParams = student.net().parameterVector().retainReference(); // outlives the caller's scope
    }

    /**
     * Times the phases of every later iteration (add4j bench): student forward/backward, teacher, discriminator, R1.
     * With a timer other than {@link PhaseTimer#NONE} the discriminator's update runs two backward passes in place of
     * one (see {@link #updateDisc}): the same gradient, a little more work.
     * @return this step
     */
    public AddStep timePhases(PhaseTimer timer) {
        this.timer = timer;
        return this;
    }

    /**
     * One iteration on a batch of real images x0 and their captions; randomness from (seed, step) only.
     * @return every loss and a few discriminator statistics, as Java numbers
     */
    public Map<String, Double> step(Tensor x0, TextCond text, long step) {
        try (var scope = new PointerScope()) {                                  // every tensor made below is freed here
            Generator gen = torch.make_generator_cpu(cfg.seed() * 1_000_003L + step);
            long b = x0.size(0);
            // 4.2  x_s = alpha_s x0 + sigma_s eps, s uniform over the student timesteps (999: pure noise)
            Tensor s = studentTimesteps(b, gen).to(x0.device(), torch.ScalarType.Long);                 // [B]
            Tensor eps = torch.randn(Ops.shape(x0), new GeneratorOptional(gen)).to(x0.device(), torch.ScalarType.Float);
            Tensor xS = student.schedule().noised(x0, eps, s);                                          // [B,C,H,W]
            Tensor seen = s.lt(Ops.s(cfg.studentTimesteps().get(0)));                                  // [B] input holds x0
            Tensor cond = cfg.loss().adversarial() ? disc.condition(text, x0, seen) : null;             // [B,condDim]
            Map<String, Double> stats = new LinkedHashMap<>();
            Tensor x0Hat;
            if (!cfg.discOnlyAt(step)) {
                // 4.3  the student's x0 estimate
                x0Hat = student.x0(xS, s, text);                                                        // [B,C,H,W]
                // 4.4-4.6  L_G = w L_adv^G + lambda L_distill (+ mu L_reg, DMD's regression; w 1 in the paper), the heads frozen
                Tensor lAdv = cfg.loss().adversarial() ? AddLosses.adversarialG(disc.logits(x0Hat, text, cond, gen)) : zero(x0);
                timer.mark(PhaseTimer.STUDENT);
                TeacherTarget.Target target = cfg.loss().distillation() ? teacher.of(x0Hat, text, gen) : null;
                timer.mark(PhaseTimer.TEACHER);
                Tensor lDistill = cfg.loss().distillation() ? AddLosses.distillation(x0Hat, target) : zero(x0);
                Tensor lReg = cfg.regression() ? regression.loss(student, step) : zero(x0);
                double wAdv = StudentSignal.of(lAdv, lDistill.mul(Ops.s(cfg.lambda())), x0Hat, cfg, stats);
                Tensor lG = lAdv.mul(Ops.s(wAdv)).add(lDistill.mul(Ops.s(cfg.lambda()))).add(lReg.mul(Ops.s(cfg.regWeight())));
                stats.put("skip_g", update(studentOpt, lG, true) ? 0.0 : 1.0);
                timer.mark(PhaseTimer.STUDENT);
                putFinite(stats, "loss_g", lG);
                putFinite(stats, "loss_adv", lAdv);
                putFinite(stats, "loss_distill", lDistill);
                if (cfg.regression()) putFinite(stats, "loss_reg", lReg);
            } else {                                                    // --disc-warmup: the heads learn alone
                try (var noGrad = new org.bytedeco.pytorch.NoGradGuard()) { x0Hat = student.x0(xS, s, text); }
                timer.mark(PhaseTimer.STUDENT);
            }
            // 4.7  L_D = hinge(real, fake) + gamma R1 on the heads' input features of the real images
            if (cfg.loss().adversarial()) {
                List<Tensor> realInputs = disc.realHeadInputs(x0, text, gen);
                List<Tensor> real = disc.heads().logits(realInputs, cond);
                List<Tensor> fake = disc.logits(x0Hat.detach(), text, cond, gen);                            // sg: the student is not trained here
                Tensor lHinge = AddLosses.hingeD(real, fake);
                timer.mark(PhaseTimer.DISCRIMINATOR);
                Tensor lR1 = cfg.r1() > 0 ? AddLosses.r1Penalty(real, realInputs) : zero(x0);
                timer.mark(PhaseTimer.R1);
                stats.put("skip_d", updateDisc(lHinge, lR1.mul(Ops.s(cfg.r1()))) ? 0.0 : 1.0);
                putFinite(stats, "loss_d", lHinge);
                putFinite(stats, "r1", lR1);
                putFinite(stats, "d_real", mean(real));
                putFinite(stats, "d_fake", mean(fake));
                stats.put("d_acc", accuracy(real, fake));
                for (int k = 0; k < real.size(); k++) stats.put("d_acc" + k, accuracy(real.subList(k, k + 1), fake.subList(k, k + 1)));
            }
            return stats;
        }
    }

    /**
     * One optimiser step on {@code loss} ({@link Optimizers#stepIfFinite}: a non-finite step is skipped and counted
     * by the caller); the heads take no gradient during the student's update.
     * @return whether the step was taken
     */
    private boolean update(Adam opt, Tensor loss, boolean student) {
        disc.heads().requiresGrad(!student);
        try {
            return Optimizers.stepIfFinite(opt, loss, student ? studentParams : disc.heads().parameterVector());
        } finally {
            disc.heads().requiresGrad(true);
        }
    }

    private static void putFinite(Map<String, Double> stats, String key, Tensor value) {
        double v = Ops.f(value);
        if (Double.isFinite(v)) stats.put(key, v);
    }

    /**
     * The discriminator's step on L_D = hinge + γR1. Timed, it backpropagates γR1 first (keeping the graph of the
     * real logits, which the hinge shares) and then the hinge: the gradients add up to those of the sum, and R1's
     * second-order part is timed alone, at the cost of a second pass through the heads' graph on the real images.
     */
    private boolean updateDisc(Tensor lHinge, Tensor lR1Weighted) {
        if (timer == PhaseTimer.NONE || cfg.r1() == 0) {
            boolean taken = update(discOpt, lHinge.add(lR1Weighted), false);
            timer.mark(PhaseTimer.DISCRIMINATOR);
            return taken;
        }
        discOpt.zero_grad();
        lR1Weighted.backward(new Tensor(), new BoolOptional(true), false, new TensorArrayRefOptional());
        timer.mark(PhaseTimer.R1);
        lHinge.backward();
        discOpt.step();
        timer.mark(PhaseTimer.DISCRIMINATOR);
        return true;
    }

    /**
     * s drawn uniformly from the student timesteps, per sample; with class groups one s per group, so that a group
     * of fakes made from pure noise shows the heads whether the student uses its noise. [B] int64 on the CPU.
     */
    private Tensor studentTimesteps(long b, Generator gen) {
        long group = cfg.classGroups() ? LocalBatchNorm.GROUP : 1;
        Tensor idx = torch.randint(studentTimesteps.size(0), new long[]{b / group}, new GeneratorOptional(gen));
        if (group > 1) idx = idx.repeat_interleave(group);
        return torch.index_select(studentTimesteps, 0, idx);
    }

    private static Tensor zero(Tensor like) { return torch.zeros(1).to(like.device(), torch.ScalarType.Float).squeeze(); }

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
