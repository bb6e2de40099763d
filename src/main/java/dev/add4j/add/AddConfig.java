package dev.add4j.add;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.add4j.Add4jException;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.disc.LocalBatchNorm;
import dev.add4j.io.Json;

import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * Hyper-parameters of one ADD run, in four parts: the paper's settings (every switch of its ablations, Table 1),
 * the optimisers, the ODE warm-up and the extras that are not in the paper. Defaults follow the paper where it says
 * (add-method.md); "[choice]" marks ours. Start from {@link #paperDefaults} or {@link #recipe} and change a part
 * with its wither: {@code cfg.withPaper(p -> p.withLambda(2.5))}. {@link #upgrade} reads the config.json files
 * of older add4j versions.
 *
 * @param steps   training iterations (one student and one discriminator update each), the warm-ups' included
 * @param batch   images per iteration
 * @param seed    seed of the student's input noise, t, the augmentations and the batch order
 * @param paper   the paper's settings
 * @param optim   the optimisers and the student's EMA
 * @param warmup  [choice, off by default] regression of the student onto the teacher's ODE before ADD
 *                ({@link OdeWarmup}); its iterations are the run's first ones and count in {@code steps}
 * @param extras  [choice, all off by default] what add4j adds to the paper
 */
public record AddConfig(int steps, int batch, long seed, Paper paper, Optim optim, Warmup warmup, Extras extras) {

    /**
     * The settings the paper names (add-method.md; Table 1's switches); {@link #DEFAULTS} are its values.
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
     * @param diffAugment      DiffAugment before the feature network: which of colour, translation and cutout (paper:
     *                         all three)
     */
    public record Paper(List<Integer> studentTimesteps, Loss loss, DistillWeighting weighting, Cond cond,
                        StudentInit studentInit, int teacherSteps, double lambda, double r1, double teacherGuidance,
                        int tMin, int tMax, DiffAugment.Policy diffAugment) {
        public static final Paper DEFAULTS = new Paper(List.of(999, 749, 499, 249), Loss.ADV_DISTILL, DistillWeighting.EXP,
                Cond.TEXT_IMG, StudentInit.TEACHER, 1, 2.5, 1e-5, 0.0, 20, 980, DiffAugment.Policy.ALL);

        public Paper {
            if (studentTimesteps == null || studentTimesteps.isEmpty() || studentTimesteps.get(0) != NoiseSchedule.T - 1)
                throw new Add4jException("--student-timesteps must start at 999 (pure noise), got " + studentTimesteps);
            for (int i = 1; i < studentTimesteps.size(); i++)
                if (studentTimesteps.get(i) < 0 || studentTimesteps.get(i) >= studentTimesteps.get(i - 1))
                    throw new Add4jException("--student-timesteps must decrease and stay >= 0, got " + studentTimesteps);
            studentTimesteps = List.copyOf(studentTimesteps);
            if (loss == null || weighting == null || cond == null || studentInit == null || diffAugment == null)
                throw new IllegalArgumentException("AddConfig.Paper: loss, weighting, cond, studentInit and diffAugment are required");
            if (teacherSteps != 1 && teacherSteps != 2 && teacherSteps != 4)
                throw new Add4jException("--teacher-steps: expected 1, 2 or 4, got " + teacherSteps);
            if (lambda < 0) throw new Add4jException("--lambda must be >= 0, got " + lambda);
            if (r1 < 0) throw new Add4jException("--r1 must be >= 0, got " + r1);
            if (teacherGuidance < 0) throw new Add4jException("--teacher-guidance must be >= 0, got " + teacherGuidance);
            if (tMin < 1 || tMax > NoiseSchedule.T - 1 || tMin > tMax)
                throw new Add4jException("--t-range: expected 1 <= tMin <= tMax <= 999, got " + tMin + ".." + tMax);
        }

        /** NFSD's guidance scale s: the teacher guidance, or 1 when that is 0. */
        public double nfsdScale() { return teacherGuidance > 0 ? teacherGuidance : 1.0; }

        public Paper withStudentTimesteps(List<Integer> ts) { return new Paper(ts, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withLoss(Loss l) { return new Paper(studentTimesteps, l, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withWeighting(DistillWeighting w) { return new Paper(studentTimesteps, loss, w, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withCond(Cond c) { return new Paper(studentTimesteps, loss, weighting, c, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withStudentInit(StudentInit i) { return new Paper(studentTimesteps, loss, weighting, cond, i, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withTeacherSteps(int n) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, n, lambda, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withLambda(double l) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, l, r1, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withR1(double g) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, g, teacherGuidance, tMin, tMax, diffAugment); }
        public Paper withTeacherGuidance(double s) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, s, tMin, tMax, diffAugment); }
        public Paper withTRange(int min, int max) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, min, max, diffAugment); }
        public Paper withDiffAugment(DiffAugment.Policy a) { return new Paper(studentTimesteps, loss, weighting, cond, studentInit, teacherSteps, lambda, r1, teacherGuidance, tMin, tMax, a); }
    }

    /**
     * The optimisers: Adam for the student and for the heads, and the student's EMA.
     * @param studentLr Adam learning rate of the student [choice: 2e-5, betas (0.9, 0.999)]
     * @param discLr    Adam learning rate of the heads, 2e-3 with betas (0, 0.99) (StyleGAN-T)
     * @param emaDecay  EMA of the student's weights [choice: 0.99]
     */
    public record Optim(double studentLr, double discLr, double emaDecay) {
        public static final Optim DEFAULTS = new Optim(2e-5, 2e-3, 0.99);

        public Optim {
            if (!(studentLr > 0) || !(discLr > 0)) throw new Add4jException("learning rates must be > 0, got " + studentLr + " and " + discLr);
            if (emaDecay < 0 || emaDecay >= 1) throw new Add4jException("--ema must be in [0,1), got " + emaDecay);
        }

        public Optim withStudentLr(double lr) { return new Optim(lr, discLr, emaDecay); }
        public Optim withDiscLr(double lr) { return new Optim(studentLr, lr, emaDecay); }
        public Optim withEmaDecay(double d) { return new Optim(studentLr, discLr, d); }
    }

    /**
     * What add4j adds to the paper [choice, each off by default, and in the paper].
     * @param classGroups batches made of groups of {@value dev.add4j.disc.LocalBatchNorm#GROUP} images of one class, the
     *                    groups the heads' batch norm takes its statistics over: a group of fakes that all look alike
     *                    then differs from a group of real images in those statistics, which lets the discriminator see
     *                    a student that ignores its noise (mode collapse)
     * @param discWarmup  ADD iterations, after the ODE warm-up, in which only the discriminator learns (the student's
     *                    output made without a gradient): a student that starts close to the real images otherwise
     *                    meets heads that cannot tell it apart yet (accuracy 0.5), whose gradient only moves it at random
     * @param regWeight   [DMD] weight μ of a regression loss added to the student's loss in every ADD iteration: the ODE
     *                    warm-up's loss on the teacher's (noise, image) pairs ({@link OdeWarmup#loss}), which ties each
     *                    noise to its image and so holds the modes that the adversarial and distillation losses alone
     *                    give up; the pairs are those of the config's warm-up (pairs, teacher steps)
     * @param discBackbone what the discriminator's heads read: the frozen feature ViT (the paper), or [LADD] the frozen
     *                    teacher's encoder on noised images
     * @param advRatio    [VQGAN's adaptive weight; 0 = off] when > 0, the adversarial loss is weighted in every
     *                    iteration so that its gradient on the student's output is {@code advRatio} times that of
     *                    λ·L_distill (measured: at a fixed weight of 1 it grows to 40 times it at 32 px, whatever λ)
     * @param discSteps   [DMD2's two time-scale rule; 1 = the paper] discriminator updates per ADD iteration: K - 1 on
     *                    batches of their own with the student frozen, then the iteration's own (measured: heads that
     *                    learned to see the student are fooled by it within 10 iterations at 1)
     */
    public record Extras(boolean classGroups, int discWarmup, double regWeight, DiscBackbone discBackbone, double advRatio, int discSteps) {
        public static final Extras NONE = new Extras(false, 0, 0, DiscBackbone.VIT, 0, 1);

        public Extras {
            if (discBackbone == null) throw new IllegalArgumentException("AddConfig.Extras: discBackbone is required");
            if (discWarmup < 0) throw new Add4jException("--disc-warmup must be >= 0, got " + discWarmup);
            if (!(regWeight >= 0) || Double.isInfinite(regWeight)) throw new Add4jException("--reg-weight must be finite and >= 0, got " + regWeight);
            if (!(advRatio >= 0) || Double.isInfinite(advRatio)) throw new Add4jException("--adv-ratio must be finite and >= 0, got " + advRatio);
            if (discSteps < 1 || discSteps > 100) throw new Add4jException("--disc-steps must be in 1..100, got " + discSteps);
        }

        public Extras withClassGroups(boolean on) { return new Extras(on, discWarmup, regWeight, discBackbone, advRatio, discSteps); }
        public Extras withDiscWarmup(int n) { return new Extras(classGroups, n, regWeight, discBackbone, advRatio, discSteps); }
        public Extras withRegWeight(double mu) { return new Extras(classGroups, discWarmup, mu, discBackbone, advRatio, discSteps); }
        public Extras withDiscBackbone(DiscBackbone b) { return new Extras(classGroups, discWarmup, regWeight, b, advRatio, discSteps); }
        public Extras withAdvRatio(double r) { return new Extras(classGroups, discWarmup, regWeight, discBackbone, r, discSteps); }
        public Extras withDiscSteps(int k) { return new Extras(classGroups, discWarmup, regWeight, discBackbone, advRatio, k); }
    }

    /**
     * The discriminator's backbone. VIT: the frozen feature ViT's taps (add-method.md §5). Teacher: the frozen
     * teacher's encoder read on images noised to t ~ U[0, tMax] ({@link dev.add4j.disc.TeacherFeatures}; LADD, not in ADD).
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

    /**
     * The ODE warm-up (not in the paper): the student learns z → DDIM_k(z) of the frozen teacher before ADD starts.
     * At a student timestep s below 999 its input is the teacher's own DDIM state x_s on the way from z to the image,
     * so x_s → image is a deterministic map (the ODE's flow map) and every timestep learns a sharp image; the first
     * version noised the image afresh there, whose best regression is the blurry posterior mean (measured: 4-step
     * sampling worse than 1 step; dropped, as was a perceptual term that did not help: models/README.md).
     * @param steps        warm-up iterations (0: none), the first of the run
     * @param pairs        (noise, teacher sample) pairs, made once at the start and cycled through
     * @param teacherSteps the teacher's DDIM steps per pair; its timesteps must hold the student's
     * @param lr           the student's learning rate during the warm-up
     * @param lrCosine     whether the learning rate decays from {@code lr} to 0 over the warm-up along a half cosine
     */
    public record Warmup(int steps, int pairs, int teacherSteps, double lr, boolean lrCosine) {
        public static final Warmup NONE = new Warmup(0, 0, 0, 0);

        public Warmup {
            if (steps < 0) throw new Add4jException("--ode-warmup must be >= 0, got " + steps);
        }

        /** A warm-up at the constant learning rate {@code lr}. */
        public Warmup(int steps, int pairs, int teacherSteps, double lr) { this(steps, pairs, teacherSteps, lr, false); }

        public boolean on() { return steps > 0; }

        /** The same warm-up over another number of iterations. */
        public Warmup withSteps(int n) { return new Warmup(n, pairs, teacherSteps, lr, lrCosine); }
        public Warmup withLrCosine(boolean on) { return new Warmup(steps, pairs, teacherSteps, lr, on); }

        /** The learning rate of warm-up iteration {@code step} (0-based). */
        public double lrAt(long step) {
            return lrCosine ? lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, steps) / steps)) : lr;
        }
    }

    public AddConfig {
        if (paper == null || optim == null || warmup == null || extras == null)
            throw new IllegalArgumentException("AddConfig: paper, optim, warmup and extras are required");
        if (steps < 1) throw new Add4jException("--steps must be >= 1, got " + steps);
        if (batch < 2) throw new Add4jException("--batch must be >= 2, got " + batch);
        if (extras.classGroups() && batch % LocalBatchNorm.GROUP != 0)
            throw new Add4jException("--class-groups needs a --batch that is a multiple of " + LocalBatchNorm.GROUP + ", got " + batch);
        int discWarmup = extras.discWarmup();
        if (discWarmup > 0 && !paper.loss().adversarial())
            throw new Add4jException("--disc-warmup needs a discriminator, but --loss " + paper.loss().cliName() + " has none");
        if (discWarmup > 0 && (long) warmup.steps() + discWarmup > steps)   // the ODE warm-up alone: checked below
            throw new Add4jException("--ode-warmup + --disc-warmup (" + ((long) warmup.steps() + discWarmup) + ") must not exceed --steps (" + steps + "), which counts them");
        if (extras.advRatio() > 0 && paper.loss() != Loss.ADV_DISTILL)
            throw new Add4jException("--adv-ratio weighs the adversarial loss against the distillation loss: it needs --loss adv+distill");
        if (warmup.steps() > steps)
            throw new Add4jException("--ode-warmup (" + warmup.steps() + ") must not exceed --steps (" + steps + "), which counts it");
        if (warmup.on() || extras.regWeight() > 0) {
            if (warmup.pairs() < batch) throw new Add4jException("--ode-pairs must be >= --batch (" + batch + "), got " + warmup.pairs());
            if (warmup.teacherSteps() < 1 || warmup.teacherSteps() > NoiseSchedule.T)
                throw new Add4jException("--ode-teacher-steps must be in 1..1000, got " + warmup.teacherSteps());
            if (!(warmup.lr() > 0)) throw new Add4jException("--ode-lr must be > 0, got " + warmup.lr());
            List<Integer> ts = paper.studentTimesteps(), grid = Timesteps.trailing(warmup.teacherSteps());
            if (!grid.containsAll(ts))
                throw new Add4jException("--ode-teacher-steps " + warmup.teacherSteps() + " gives the DDIM timesteps "
                        + grid.subList(0, Math.min(grid.size(), 8)) + (grid.size() > 8 ? "..." : "") + ", but the warm-up's "
                        + "inputs are the teacher's states at every student timestep " + ts
                        + (ts.equals(Timesteps.trailing(ts.size())) ? ": use a multiple of " + ts.size() : ": choose steps that hold them"));
        }
    }

    /** This config with another iteration count: a resumed run may be extended (nothing else depends on it). */
    public AddConfig withSteps(int n) { return new AddConfig(n, batch, seed, paper, optim, warmup, extras); }
    public AddConfig withBatch(int n) { return new AddConfig(steps, n, seed, paper, optim, warmup, extras); }
    public AddConfig withSeed(long s) { return new AddConfig(steps, batch, s, paper, optim, warmup, extras); }
    /** This config with its paper settings changed by {@code f}, e.g. {@code p -> p.withLambda(2.5)}. */
    public AddConfig withPaper(UnaryOperator<Paper> f) { return new AddConfig(steps, batch, seed, f.apply(paper), optim, warmup, extras); }
    public AddConfig withOptim(UnaryOperator<Optim> f) { return new AddConfig(steps, batch, seed, paper, f.apply(optim), warmup, extras); }
    public AddConfig withWarmup(Warmup w) { return new AddConfig(steps, batch, seed, paper, optim, w, extras); }
    public AddConfig withExtras(UnaryOperator<Extras> f) { return new AddConfig(steps, batch, seed, paper, optim, warmup, f.apply(extras)); }

    /**
     * Checks that a checkpoint's run is this one, for a resume: the same settings (--steps may grow), none of them
     * dropped since ({@link #dropped}).
     * @throws Add4jException naming the checkpoint
     */
    public void checkResumes(dev.add4j.io.Checkpoint.Saved c) {
        List<String> gone = dropped(c.config(JsonNode.class));
        if (!gone.isEmpty())
            throw new Add4jException(c.source() + ": a run with " + String.join(" and ", gone) + ", which add4j no longer has "
                    + "(models/README.md): it cannot be resumed as it was made");
        AddConfig saved = c.config(AddConfig.class);
        if (!saved.withSteps(steps).equals(this))
            throw new Add4jException(c.source() + ": was made with other settings; resume with the same options (a run started "
                    + "before distill's --preset: add --preset paper; saved: " + Json.compact(saved) + ")");
    }

    /** Whether the ADD iterations need the ODE pairs (a regression weight > 0). */
    public boolean regression() { return extras.regWeight() > 0; }


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
        return new AddConfig(steps, batch, seed,
                Paper.DEFAULTS.withCond(Cond.TEXT_IMG_IF_SEEN).withLambda(RECIPE_LAMBDA).withDiffAugment(DiffAugment.Policy.NONE),
                Optim.DEFAULTS.withStudentLr(RECIPE_STUDENT_LR),
                new Warmup(0, (int) Math.min(RECIPE_PAIRS, (long) steps * batch), RECIPE_PAIR_STEPS, 1e-4),
                Extras.NONE.withRegWeight(RECIPE_REG_WEIGHT).withDiscBackbone(new DiscBackbone(true, 100)));
    }

    public static final double RECIPE_LAMBDA = 25, RECIPE_STUDENT_LR = 1e-4, RECIPE_REG_WEIGHT = 1000;
    public static final int RECIPE_PAIRS = 512, RECIPE_PAIR_STEPS = 16;

    /** The paper's settings (and our choices where it is silent) for a run of {@code steps} x {@code batch}. */
    public static AddConfig paperDefaults(int steps, int batch, long seed) {
        return new AddConfig(steps, batch, seed, Paper.DEFAULTS, Optim.DEFAULTS, Warmup.NONE, Extras.NONE);
    }

    // Reading config.json: every file goes through upgrade(), then binds to the current shape.

    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    static AddConfig fromJson(JsonNode json) { return Json.read(upgrade(json), Stored.class).config(); }

    /** The current shape, bound field by field (strictly: an unknown field is an error). */
    record Stored(int steps, int batch, long seed, Paper paper, Optim optim, Warmup warmup, Extras extras) {
        AddConfig config() { return new AddConfig(steps, batch, seed, paper, optim, warmup, extras); }
    }

    private static final List<String> PAPER_FIELDS = List.of("studentTimesteps", "loss", "weighting", "cond", "studentInit",
            "teacherSteps", "lambda", "r1", "teacherGuidance", "tMin", "tMax", "diffAugment");
    private static final List<String> OPTIM_FIELDS = List.of("studentLr", "discLr", "emaDecay");
    private static final List<String> EXTRAS_FIELDS = List.of("classGroups", "discWarmup", "regWeight", "discBackbone", "advRatio", "discSteps");

    /**
     * A config.json of any add4j version in the current shape. The files of add4j before the parts held every field
     * at the top level; each field added since was missing from the files before it, and means off:
     * <ul>
     *   <li>{@code diffAugment} a boolean (before policies): true is all three augmentations, false none;
     *   <li>no {@code warmup}: none; a warm-up without {@code lrCosine}: a constant rate;
     *   <li>no {@code classGroups}, {@code discWarmup}, {@code regWeight} or {@code advRatio}: off (false or 0);
     *       no {@code discBackbone}: the feature ViT; no {@code discSteps}: 1.
     * </ul>
     * Two fields of the warm-up were dropped, measured no better (models/README.md), and are removed from files of
     * either shape: {@code inputs} (TRAJECTORY is what every warm-up does now; RENOISED, also what a warm-up without the
     * field meant, is gone) and {@code featureWeight} (0 now). A file that used the dropped values still reads, as
     * today's warm-up; {@link #dropped} names them, so that such a run is not resumed as another.
     * A field it does not know is left where it is, for the strict read to name.
     */
    public static JsonNode upgrade(JsonNode json) {
        if (!json.isObject()) return json;
        ObjectNode out = json.has("paper") ? json.deepCopy() : parts((ObjectNode) json);   // "paper": the current shape
        if (out.get("extras") instanceof ObjectNode x && !x.has("discSteps")) x.put("discSteps", 1);
        if (out.get("warmup") instanceof ObjectNode w) {
            w.remove("inputs");
            w.remove("featureWeight");
        }
        return out;
    }

    /**
     * The dropped warm-up settings (see {@link #upgrade}) that a config.json of any shape used, as the flags that
     * asked for them ("--ode-inputs renoised", "--ode-feature-weight 0.25"); empty when it used none, or no pairs.
     */
    public static List<String> dropped(JsonNode json) {
        JsonNode w = json.path("warmup"), mu = json.has("paper") ? json.path("extras").path("regWeight") : json.path("regWeight");
        if (w.path("steps").asInt(0) == 0 && mu.asDouble(0) == 0) return List.of();             // the pairs were never used
        List<String> d = new java.util.ArrayList<>();
        // a warm-up without inputs: RENOISED in a flat file (before the field), TRAJECTORY in the parts' (after it was dropped)
        if (!w.path("inputs").asText(json.has("paper") ? "TRAJECTORY" : "RENOISED").equals("TRAJECTORY")) d.add("--ode-inputs renoised");
        if (w.path("featureWeight").asDouble(0) != 0) d.add("--ode-feature-weight " + w.path("featureWeight").asDouble());
        return d;
    }

    /** A file of add4j before the parts: every field at the top level. */
    private static ObjectNode parts(ObjectNode json) {
        ObjectNode old = json.deepCopy(), out = old.objectNode();
        for (String f : List.of("steps", "batch", "seed")) move(old, out, f);
        ObjectNode paper = out.putObject("paper"), optim = out.putObject("optim");
        for (String f : PAPER_FIELDS) move(old, paper, f);
        JsonNode augment = paper.get("diffAugment");
        if (augment != null && augment.isBoolean())
            paper.put("diffAugment", (augment.booleanValue() ? DiffAugment.Policy.ALL : DiffAugment.Policy.NONE).toString());
        for (String f : OPTIM_FIELDS) move(old, optim, f);
        JsonNode w = old.remove("warmup");
        out.set("warmup", w == null || w.isNull() ? Json.tree(Json.compact(Warmup.NONE)) : w);
        ObjectNode extras = out.putObject("extras");
        for (String f : EXTRAS_FIELDS) move(old, extras, f);
        if (!extras.hasNonNull("discBackbone")) extras.set("discBackbone", Json.tree(Json.compact(DiscBackbone.VIT)));
        out.setAll(old);                                                               // unknown fields
        return out;
    }

    private static void move(ObjectNode from, ObjectNode to, String field) {
        JsonNode v = from.remove(field);
        if (v != null) to.set(field, v);
    }
}
