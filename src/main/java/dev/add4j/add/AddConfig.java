package dev.add4j.add;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;

import java.util.List;
import java.util.Locale;

/**
 * Hyper-parameters of one ADD run: every switch of the paper's ablations (Table 1) is a field. Defaults follow the
 * paper where it says (add-method.md); "[choice]" marks ours.
 *
 * @param studentTimesteps the student's N timesteps, largest first; 999 is pure noise. {999,749,499,249} [choice]
 * @param loss             which student losses: adversarial + distillation (paper), or one alone (Table 1d)
 * @param weighting        c(t) of the distillation loss: exp (ablation default), sds or nfsd (Table 1d)
 * @param cond             the discriminator's condition: text + image (paper), text, image or none (Table 1b)
 * @param studentInit      the student starts from the teacher's weights (paper) or at random (Table 1c)
 * @param teacherSteps     consecutive teacher DDIM steps for the distillation target: 1 (paper), 2 or 4 (Table 1f)
 * @param lambda           weight of the distillation loss, 2.5 (paper)
 * @param r1               R1 strength gamma on the heads' input features, 1e-5 (paper)
 * @param teacherGuidance  classifier-free guidance of the teacher's target, 0 = none; NFSD's scale s (0 means 1)
 * @param tMin             smallest re-noising timestep of the distillation loss, 20 [choice, DreamFusion]
 * @param tMax             largest, 980 [choice]
 * @param diffAugment      DiffAugment before the feature network: which of colour, translation and cutout (paper: all
 *                         three); a config.json of a run from before the policy holds true (all) or false (none)
 * @param steps            training iterations (one student and one discriminator update each)
 * @param batch            images per iteration
 * @param studentLr        Adam learning rate of the student [choice: 2e-5, betas (0.9, 0.999)]
 * @param discLr           Adam learning rate of the heads, 2e-3 with betas (0, 0.99) (StyleGAN-T)
 * @param emaDecay         EMA of the student's weights [choice]
 * @param seed             seed of the student's input noise, t, the augmentations and the batch order
 * @param classGroups      [choice, off by default] batches made of groups of {@value dev.add4j.disc.LocalBatchNorm#GROUP}
 *                         images of one class, the groups the heads' batch norm takes its statistics over: a group
 *                         of fakes that all look alike then differs from a group of real images in those statistics,
 *                         which lets the discriminator see a student that ignores its noise (mode collapse)
 * @param warmup           [choice, off by default] regression of the student onto the teacher's ODE before ADD
 *                         ({@link OdeWarmup}); its iterations are the run's first ones and count in {@code steps}
 * @param discWarmup       [choice, 0 by default] ADD iterations, after the ODE warm-up, in which only the discriminator
 *                         learns (the student's output made without a gradient): a student that starts close to the
 *                         real images otherwise meets heads that cannot tell it apart yet (accuracy 0.5), whose
 *                         gradient only moves it at random; a config.json without it: 0
 * @param regWeight        [choice, DMD; 0 by default, and in the paper] weight μ of a regression loss added to the
 *                         student's loss in every ADD iteration: the ODE warm-up's loss on the teacher's (noise, image)
 *                         pairs ({@link OdeWarmup#loss}), which ties each noise to its image and so holds the modes
 *                         that the adversarial and distillation losses alone give up; the pairs are those of
 *                         {@code warmup} (pairs, teacher steps, inputs); a config.json without it: 0
 * @param discBackbone     what the discriminator's heads read: the frozen feature ViT (the paper), or [choice, LADD]
 *                         the frozen teacher's encoder on noised images; a config.json without it: the ViT
 * @param advRatio         [choice, VQGAN's adaptive weight; 0 = off, the paper] when > 0, the adversarial loss is
 *                         weighted in every iteration so that its gradient on the student's output is {@code advRatio}
 *                         times that of λ·L_distill (measured: at a fixed weight of 1 it grows to 40 times it at 32 px,
 *                         whatever λ); a config.json without it: 0
 */
public record AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                        StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                        int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                        double emaDecay, long seed, boolean classGroups, Warmup warmup, int discWarmup, double regWeight,
                        DiscBackbone discBackbone, double advRatio) {

    /**
     * The discriminator's backbone. VIT: the frozen feature ViT's taps (add-method.md §5). Teacher: the frozen
     * teacher's encoder read on images noised to t ~ U[0, tMax] ({@link TeacherFeatures}; LADD, not in ADD).
     */
    public record DiscBackbone(boolean teacher, int tMax) {
        public static final DiscBackbone VIT = new DiscBackbone(false, 0);
        /** The noise ceiling of a plain {@code teacher}. */
        public static final int DEFAULT_T_MAX = 500;

        public DiscBackbone {
            if (teacher && (tMax < 0 || tMax > NoiseSchedule.T - 1))
                throw new Add4jException("--disc-features teacher:T needs 0 <= T <= 999, got " + tMax);
        }

        public static DiscBackbone parse(String s) {
            String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
            if (v.equals("vit")) return VIT;
            if (v.equals("teacher")) return new DiscBackbone(true, DEFAULT_T_MAX);
            if (v.startsWith("teacher:")) {
                try {
                    return new DiscBackbone(true, Integer.parseInt(v.substring(8)));
                } catch (NumberFormatException e) { /* below */ }
            }
            throw new Add4jException("--disc-features: expected vit, teacher or teacher:T (T the largest noise level), got '" + s + "'");
        }

        public String cliName() { return teacher ? "teacher:" + tMax : "vit"; }
    }

    /** A config with the adversarial loss at weight 1 (the paper). */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed, boolean classGroups, Warmup warmup, int discWarmup, double regWeight, DiscBackbone discBackbone) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, regWeight, discBackbone, 0);
    }

    /** A config whose discriminator reads the feature ViT (the paper). */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed, boolean classGroups, Warmup warmup, int discWarmup, double regWeight) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, regWeight, DiscBackbone.VIT);
    }

    /**
     * The ODE warm-up (not in the paper): the student learns z → DDIM_k(z) of the frozen teacher before ADD starts.
     * @param steps        warm-up iterations (0: none), the first of the run
     * @param pairs        (noise, teacher sample) pairs, made once at the start and cycled through
     * @param teacherSteps the teacher's DDIM steps per pair
     * @param lr           the student's learning rate during the warm-up
     * @param inputs       what the student sees at its timesteps below 999 (a config.json without it: RENOISED)
     * @param lrCosine     whether the learning rate decays from {@code lr} to 0 over the warm-up along a half cosine
     *                     (a config.json without it: constant)
     * @param featureWeight weight of the perceptual {@link FeatureDistance} added to the pixel L2 loss (0: pixel L2
     *                     alone, as a config.json without it)
     */
    public record Warmup(int steps, int pairs, int teacherSteps, double lr, Inputs inputs, boolean lrCosine, double featureWeight) {
        public static final Warmup NONE = new Warmup(0, 0, 0, 0, Inputs.TRAJECTORY);

        public Warmup {
            if (inputs == null) inputs = Inputs.RENOISED; // runs from before the option were made this way
        }

        /** A warm-up at the constant learning rate {@code lr}. */
        public Warmup(int steps, int pairs, int teacherSteps, double lr, Inputs inputs) {
            this(steps, pairs, teacherSteps, lr, inputs, false);
        }

        /** A warm-up on the pixel L2 loss alone. */
        public Warmup(int steps, int pairs, int teacherSteps, double lr, Inputs inputs, boolean lrCosine) {
            this(steps, pairs, teacherSteps, lr, inputs, lrCosine, 0);
        }

        public boolean on() { return steps > 0; }

        /** The same warm-up over another number of iterations. */
        public Warmup withSteps(int n) { return new Warmup(n, pairs, teacherSteps, lr, inputs, lrCosine, featureWeight); }

        /** The learning rate of warm-up iteration {@code step} (0-based). */
        public double lrAt(long step) {
            return lrCosine ? lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, steps) / steps)) : lr;
        }

        /**
         * The warm-up's inputs at a student timestep s below 999. TRAJECTORY: the teacher's own DDIM state x_s on the
         * way from the pair's noise to its image, so x_s → image is a deterministic map (the ODE's flow map) and the
         * student learns a sharp image at every timestep. RENOISED (the first version): the pair's image noised with
         * fresh noise, whose best regression is the blurry posterior mean E[x0 | x_s]; measured, it made 4-step
         * sampling worse than 1 step.
         */
        public enum Inputs {
            TRAJECTORY, RENOISED;

            public static Inputs parse(String s) {
                return switch (s) {
                    case "trajectory" -> TRAJECTORY;
                    case "renoised" -> RENOISED;
                    default -> throw new Add4jException("--ode-inputs: expected trajectory or renoised, got '" + s + "'");
                };
            }
        }
    }

    /** A config without the regression loss during ADD. */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed, boolean classGroups, Warmup warmup, int discWarmup) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, 0);
    }

    /** A config in which the student learns from the first ADD iteration on (no discriminator warm-up). */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed, boolean classGroups, Warmup warmup) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, 0);
    }

    /** A config with the paper's plain batches (no class groups) and no warm-up. */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, false, Warmup.NONE);
    }

    /** A config without the ODE warm-up. */
    public AddConfig(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                     StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                     int tMin, int tMax, DiffAugment.Policy diffAugment, int steps, int batch, double studentLr, double discLr,
                     double emaDecay, long seed, boolean classGroups) {
        this(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax,
                diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, Warmup.NONE);
    }

    /** This config with another iteration count: a resumed run may be extended (nothing else depends on it). */
    public AddConfig withSteps(int newSteps) { return with(newSteps, classGroups, warmup, discWarmup); }

    /** This config with the regression loss of weight {@code mu} during ADD. */
    public AddConfig withRegWeight(double mu) {
        return new AddConfig(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance,
                tMin, tMax, diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, mu, discBackbone, advRatio);
    }

    /** This config with another discriminator backbone. */
    public AddConfig withDiscBackbone(DiscBackbone b) {
        return new AddConfig(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance,
                tMin, tMax, diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, regWeight, b, advRatio);
    }

    /** This config with the adversarial loss weighted to {@code r} times the distillation loss's pull (0: weight 1). */
    public AddConfig withAdvRatio(double r) {
        return new AddConfig(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance,
                tMin, tMax, diffAugment, steps, batch, studentLr, discLr, emaDecay, seed, classGroups, warmup, discWarmup, regWeight, discBackbone, r);
    }

    /** Whether the ADD iterations need the ODE pairs ({@code regWeight} > 0). */
    public boolean regression() { return regWeight > 0; }

    /** This config with {@code n} discriminator-only iterations after the ODE warm-up. */
    public AddConfig withDiscWarmup(int n) { return with(steps, classGroups, warmup, n); }

    /** Whether iteration {@code step} (0-based, counting the ODE warm-up's) is one of the discriminator's alone. */
    public boolean discOnlyAt(long step) { return step >= warmup.steps() && step < (long) warmup.steps() + discWarmup; }

    /** This config with class-grouped batches on or off. */
    public AddConfig withClassGroups(boolean on) { return with(steps, on, warmup, discWarmup); }

    /** This config with another ODE warm-up. */
    public AddConfig withWarmup(Warmup w) { return with(steps, classGroups, w, discWarmup); }

    private AddConfig with(int newSteps, boolean groups, Warmup w, int disc) {
        return new AddConfig(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance,
                tMin, tMax, diffAugment, newSteps, batch, studentLr, discLr, emaDecay, seed, groups, w, disc, regWeight, discBackbone, advRatio);
    }

    /** The student's losses (Table 1d). */
    public enum Loss {
        ADV_DISTILL("adv+distill"), ADV("adv"), DISTILL("distill");
        private final String cli;
        Loss(String cli) { this.cli = cli; }
        public String cliName() { return cli; }
        public boolean adversarial() { return this != DISTILL; }
        public boolean distillation() { return this != ADV; }
        public static Loss parse(String s) {
            for (Loss l : values()) if (l.cli.equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return l;
            throw new Add4jException("--loss: expected adv+distill, adv or distill, got '" + s + "'");
        }
    }

    /** Where the student's weights start (Table 1c). */
    public enum StudentInit {
        TEACHER, RANDOM;
        public String cliName() { return name().toLowerCase(Locale.ROOT); }
        public static StudentInit parse(String s) {
            for (StudentInit i : values()) if (i.cliName().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return i;
            throw new Add4jException("--student-init: expected teacher or random, got '" + s + "'");
        }
    }

    public AddConfig {
        if (studentTimesteps == null || studentTimesteps.isEmpty() || studentTimesteps.get(0) != NoiseSchedule.T - 1)
            throw new Add4jException("--student-timesteps must start at 999 (pure noise), got " + studentTimesteps);
        for (int i = 1; i < studentTimesteps.size(); i++)
            if (studentTimesteps.get(i) < 0 || studentTimesteps.get(i) >= studentTimesteps.get(i - 1))
                throw new Add4jException("--student-timesteps must decrease and stay >= 0, got " + studentTimesteps);
        studentTimesteps = List.copyOf(studentTimesteps);
        if (loss == null || weighting == null || cond == null || studentInit == null || diffAugment == null)
            throw new IllegalArgumentException("AddConfig: loss, weighting, cond, studentInit and diffAugment are required");
        if (teacherSteps != 1 && teacherSteps != 2 && teacherSteps != 4)
            throw new Add4jException("--teacher-steps: expected 1, 2 or 4, got " + teacherSteps);
        if (lambda < 0) throw new Add4jException("--lambda must be >= 0, got " + lambda);
        if (r1 < 0) throw new Add4jException("--r1 must be >= 0, got " + r1);
        if (teacherGuidance < 0) throw new Add4jException("--teacher-guidance must be >= 0, got " + teacherGuidance);
        if (tMin < 1 || tMax > NoiseSchedule.T - 1 || tMin > tMax)
            throw new Add4jException("--t-range: expected 1 <= tMin <= tMax <= 999, got " + tMin + ".." + tMax);
        if (steps < 1) throw new Add4jException("--steps must be >= 1, got " + steps);
        if (batch < 2) throw new Add4jException("--batch must be >= 2, got " + batch);
        if (!(studentLr > 0) || !(discLr > 0)) throw new Add4jException("learning rates must be > 0, got " + studentLr + " and " + discLr);
        if (emaDecay < 0 || emaDecay >= 1) throw new Add4jException("--ema must be in [0,1), got " + emaDecay);
        if (classGroups && batch % dev.add4j.disc.LocalBatchNorm.GROUP != 0)
            throw new Add4jException("--class-groups needs a --batch that is a multiple of " + dev.add4j.disc.LocalBatchNorm.GROUP + ", got " + batch);
        if (warmup == null) warmup = Warmup.NONE;                       // a config.json from before the warm-up existed
        if (discBackbone == null) discBackbone = DiscBackbone.VIT;      // one from before the option
        if (warmup.steps() < 0) throw new Add4jException("--ode-warmup must be >= 0, got " + warmup.steps());
        if (discWarmup < 0) throw new Add4jException("--disc-warmup must be >= 0, got " + discWarmup);
        if (discWarmup > 0 && !loss.adversarial())
            throw new Add4jException("--disc-warmup needs a discriminator, but --loss " + loss.cliName() + " has none");
        if (discWarmup > 0 && (long) warmup.steps() + discWarmup > steps)   // the ODE warm-up alone: checked below
            throw new Add4jException("--ode-warmup + --disc-warmup (" + ((long) warmup.steps() + discWarmup) + ") must not exceed --steps (" + steps + "), which counts them");
        if (!(regWeight >= 0) || Double.isInfinite(regWeight)) throw new Add4jException("--reg-weight must be finite and >= 0, got " + regWeight);
        if (!(advRatio >= 0) || Double.isInfinite(advRatio)) throw new Add4jException("--adv-ratio must be finite and >= 0, got " + advRatio);
        if (advRatio > 0 && loss != Loss.ADV_DISTILL)
            throw new Add4jException("--adv-ratio weighs the adversarial loss against the distillation loss: it needs --loss adv+distill");
        if (warmup.steps() > steps)
            throw new Add4jException("--ode-warmup (" + warmup.steps() + ") must not exceed --steps (" + steps + "), which counts it");
        if (warmup.on() || regWeight > 0) {
            if (warmup.pairs() < batch) throw new Add4jException("--ode-pairs must be >= --batch (" + batch + "), got " + warmup.pairs());
            if (warmup.teacherSteps() < 1 || warmup.teacherSteps() > NoiseSchedule.T)
                throw new Add4jException("--ode-teacher-steps must be in 1..1000, got " + warmup.teacherSteps());
            if (!(warmup.lr() > 0)) throw new Add4jException("--ode-lr must be > 0, got " + warmup.lr());
            if (!(warmup.featureWeight() >= 0))
                throw new Add4jException("--ode-feature-weight must be >= 0, got " + warmup.featureWeight());
            List<Integer> grid = Timesteps.trailing(warmup.teacherSteps());
            if (warmup.inputs() == Warmup.Inputs.TRAJECTORY && !grid.containsAll(studentTimesteps))
                throw new Add4jException("--ode-inputs trajectory needs every student timestep on the teacher's DDIM "
                        + "timesteps, but --ode-teacher-steps " + warmup.teacherSteps() + " gives " + grid.subList(0, Math.min(grid.size(), 8))
                        + (grid.size() > 8 ? "..." : "") + " (" + (studentTimesteps.equals(Timesteps.trailing(studentTimesteps.size()))
                        ? "for " + studentTimesteps + " use a multiple of " + studentTimesteps.size() + ", " : "") + "or --ode-inputs renoised)");
        }
    }

    /**
     * The starting points of {@code add4j distill --preset}: add4j's recipe (the default) or the paper's settings;
     * each flag given overrides its field.
     */
    public enum Preset {
        ADD4J, PAPER;
        public String cliName() { return name().toLowerCase(Locale.ROOT); }
        public static Preset parse(String s) {
            for (Preset p : values()) if (p.cliName().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return p;
            throw new Add4jException("--preset: expected add4j or paper, got '" + s + "'");
        }
        public AddConfig config(int steps, int batch, long seed) {
            return this == PAPER ? paperDefaults(steps, batch, seed) : recipe(steps, batch, seed);
        }
    }

    /**
     * add4j's recipe, the best measured at 32 px (models/README.md, "The recipe"): the paper's method with the
     * heads on the frozen teacher's encoder at t <= 100 (LADD), no DiffAugment (it blinds the heads at this size),
     * c_img left out where the input was pure noise, and DMD's regression loss on the teacher's ODE pairs (one batch
     * of them an iteration, so a short run makes no more than it uses).
     */
    public static AddConfig recipe(int steps, int batch, long seed) {
        return new AddConfig(List.of(999, 749, 499, 249), Loss.ADV_DISTILL, DistillWeighting.EXP, Cond.TEXT_IMG_IF_SEEN,
                StudentInit.TEACHER, 1, RECIPE_LAMBDA, 1e-5, 0.0, 20, 980, DiffAugment.Policy.NONE, steps, batch, RECIPE_STUDENT_LR,
                2e-3, 0.99, seed, false, new Warmup(0, (int) Math.min(RECIPE_PAIRS, (long) steps * batch), RECIPE_PAIR_STEPS, 1e-4, Warmup.Inputs.TRAJECTORY),
                0, RECIPE_REG_WEIGHT, new DiscBackbone(true, 100), 0);
    }

    public static final double RECIPE_LAMBDA = 25, RECIPE_STUDENT_LR = 1e-4, RECIPE_REG_WEIGHT = 1000;
    public static final int RECIPE_PAIRS = 512, RECIPE_PAIR_STEPS = 16;

    /** The paper's settings (and our choices where it is silent) for a run of {@code steps} x {@code batch}. */
    public static AddConfig paperDefaults(int steps, int batch, long seed) {
        return new AddConfig(List.of(999, 749, 499, 249), Loss.ADV_DISTILL, DistillWeighting.EXP, Cond.TEXT_IMG,
                StudentInit.TEACHER, 1, 2.5, 1e-5, 0.0, 20, 980, DiffAugment.Policy.ALL, steps, batch, 2e-5, 2e-3, 0.99, seed);
    }

    /** NFSD's guidance scale s: the teacher guidance, or 1 when that is 0. */
    public double nfsdScale() { return teacherGuidance > 0 ? teacherGuidance : 1.0; }
}
