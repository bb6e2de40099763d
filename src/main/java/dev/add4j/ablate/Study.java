package dev.add4j.ablate;

import dev.add4j.Add4jException;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The ablation study of {@code add4j ablate}: the rows of the paper's Table 1 that apply here, and add4j's own
 * additions, each a list of {@code add4j distill} flags on top of one base, the paper's settings
 * ({@code --preset paper}); and the groups that show them beside the paper's numbers, with what the paper says of
 * each group as {@link Claim}s. Nothing here runs anything: rows are command lines.
 */
public final class Study {
    private Study() {}

    /** The base row: exactly the paper's settings (DINO ViT, text + image, from the teacher, both losses, exp, 1 step). */
    public static final String BASE = "paper";
    /** The preset of the base, and so of every row but add4j's recipe. */
    public static final String BASE_PRESET = "paper";

    /**
     * How much each row gets: ADD iterations and batch, evaluation images, seeds, and the teacher pairs of the rows
     * that regress onto the teacher (the regression loss, the ODE warm-up, the recipe).
     */
    public enum Budget {
        /**
         * [choice] Every row once, in under 30 minutes on 2 CPU cores: measured, 12 minutes for the 19 rows on a fresh
         * clone here (README, "Ablation study"), so an iteration may cost 2.5 times as much. Enough for the big effects
         * (a random student, the recipe's regression loss), not for differences of a few per cent.
         */
        QUICK(60, 16, 200, List.of(0L), 128, 8),
        /**
         * [choice] The study the project ships: about 7 times the images per row and 2 seeds. Sized from the quick
         * study's cost (0.07 CPU seconds per image and iteration): about 8 minutes a run on one core, 5-6 hours for
         * the 40 runs, so it is made in two or three sittings with {@code --resume}.
         */
        FULL(200, 32, 500, List.of(0L, 1L), 512, 16);

        public final int iterations, batch, n, pairs, pairTeacherSteps;
        public final List<Long> seeds;

        Budget(int iterations, int batch, int n, List<Long> seeds, int pairs, int pairTeacherSteps) {
            this.iterations = iterations;
            this.batch = batch;
            this.n = n;
            this.seeds = seeds;
            this.pairs = pairs;
            this.pairTeacherSteps = pairTeacherSteps;
        }

        public String cliName() { return name().toLowerCase(Locale.ROOT); }

        public static Budget parse(String s) {
            for (Budget b : values()) if (b.cliName().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return b;
            throw new Add4jException("--budget: expected quick or full, got '" + s + "'");
        }
    }

    /**
     * What every row of a study shares; a resumed study must have the same, so that its rows stay comparable.
     * @param budget           the budget's name (its numbers may be overridden by the options below it)
     * @param iterations       ADD iterations per row
     * @param batch            images per iteration
     * @param n                images per evaluation (1 step, class-balanced)
     * @param evalSeed         seed of the evaluation's prompts and noise, the same for every row and seed
     * @param pairs            teacher pairs of the rows that regress onto the teacher
     * @param pairTeacherSteps the teacher's DDIM steps per pair
     * @param data             the training and test images ({@code --data})
     * @param teacher          the teacher file
     * @param features         the DINO-trained feature ViT (the paper's backbone)
     * @param supervised       the supervised feature ViT (row vit-supervised)
     * @param selfSupervised   the self-supervised feature ViT with a convolutional stem (row vit-ssl)
     * @param evalNet          the eval net file
     */
    public record Protocol(String budget, int iterations, int batch, int n, long evalSeed, int pairs, int pairTeacherSteps,
                           String data, String teacher, String features, String supervised, String selfSupervised, String evalNet) {}

    /**
     * One training run of the study (run once per seed).
     * @param name    its name: the key in the tables and its directory (NAME-sSEED)
     * @param what    what it changes, in words
     * @param flags   its {@code add4j distill} flags on top of the base's
     * @param inPaper whether the paper's Table 1 has it
     */
    public record Run(String name, String what, List<String> flags, boolean inPaper) {
        public Run { flags = List.copyOf(flags); }
    }

    /** A run as a row of a group: its label there and the paper's entry for it (null: the paper has none). */
    public record Member(String run, String label, Table1.Entry paper) {}

    /**
     * A group of rows, as the paper's table groups them.
     * @param id        what {@code --rows} calls it: a, b, c, d, e, f, or own
     * @param title     its heading
     * @param members   its rows, in the paper's order
     * @param paperOnly rows of the paper's group that have no counterpart here (shown with the paper's numbers only)
     * @param claims    what the paper says of the group, checked on this study's numbers
     * @param note      what else a reader should know (empty: nothing)
     */
    public record Group(String id, String title, List<Member> members, List<Table1.Entry> paperOnly, List<Claim> claims, String note) {
        public Group {
            members = List.copyOf(members);
            paperOnly = List.copyOf(paperOnly);
            claims = List.copyOf(claims);
        }
    }

    // run names
    public static final String VIT_SUPERVISED = "vit-supervised", VIT_SSL = "vit-ssl", VIT_UNTRAINED = "vit-untrained", TEACHER_ENCODER = "teacher-encoder",
            COND_NONE = "cond-none", COND_TEXT = "cond-text", COND_IMG = "cond-img", COND_IMG_IF_SEEN = "cond-img-if-seen",
            INIT_RANDOM = "init-random", LOSS_ADV = "loss-adv", LOSS_DISTILL = "loss-distill", WEIGHT_SDS = "weight-sds",
            WEIGHT_NFSD = "weight-nfsd", TEACHER_STEPS_2 = "teacher-steps-2", TEACHER_STEPS_4 = "teacher-steps-4",
            NO_DIFFAUGMENT = "no-diffaugment", REGRESSION = "regression", ODE_WARMUP = "ode-warmup", RECIPE = "recipe";

    /** Every run, the base first. {@code untrainedVit}: the study's file of a fresh, seeded ViT. */
    public static List<Run> runs(Protocol p, String untrainedVit) {
        List<String> pairs = List.of("--ode-pairs", Integer.toString(p.pairs()), "--ode-teacher-steps", Integer.toString(p.pairTeacherSteps()));
        List<Run> r = new ArrayList<>();
        r.add(new Run(BASE, "the paper's settings (--preset paper)", List.of(), true));
        r.add(new Run(VIT_SUPERVISED, "the feature ViT trained on class labels", List.of("--features", p.supervised()), false));
        r.add(new Run(VIT_SSL, "the feature ViT with a convolutional stem, trained self-supervised (iBOT's masked tokens, "
                + "DINOv2's targets; k-NN 0.84)", List.of("--features", p.selfSupervised()), false));
        r.add(new Run(VIT_UNTRAINED, "a feature ViT of the same shape, never trained (seeded)", List.of("--features", untrainedVit), false));
        r.add(new Run(TEACHER_ENCODER, "the heads read the frozen teacher's encoder at t <= 100 (LADD)", List.of("--disc-features", "teacher:100"), false));
        r.add(new Run(COND_NONE, "the discriminator without a condition", List.of("--cond", "none"), true));
        r.add(new Run(COND_TEXT, "the discriminator conditioned on the text only", List.of("--cond", "text"), true));
        r.add(new Run(COND_IMG, "the discriminator conditioned on the image embedding only", List.of("--cond", "img"), true));
        r.add(new Run(COND_IMG_IF_SEEN, "no image embedding where the student's input was pure noise", List.of("--cond", "text+img-if-seen"), false));
        r.add(new Run(INIT_RANDOM, "the student starts from random weights", List.of("--student-init", "random"), true));
        r.add(new Run(LOSS_ADV, "the adversarial loss alone", List.of("--loss", "adv"), true));
        r.add(new Run(LOSS_DISTILL, "the distillation loss alone", List.of("--loss", "distill"), true));
        r.add(new Run(WEIGHT_SDS, "SDS weighting of the distillation loss", List.of("--weighting", "sds"), true));
        r.add(new Run(WEIGHT_NFSD, "NFSD in place of the distillation target", List.of("--weighting", "nfsd"), true));
        r.add(new Run(TEACHER_STEPS_2, "2 consecutive teacher steps for the target", List.of("--teacher-steps", "2"), true));
        r.add(new Run(TEACHER_STEPS_4, "4 consecutive teacher steps for the target", List.of("--teacher-steps", "4"), true));
        r.add(new Run(NO_DIFFAUGMENT, "no DiffAugment before the feature network", List.of("--diffaugment", "none"), false));
        List<String> reg = new ArrayList<>(List.of("--reg-weight", "1000"));
        reg.addAll(pairs);
        r.add(new Run(REGRESSION, "DMD's regression loss on the teacher's pairs, weight 1000 (against mode collapse)", reg, false));
        List<String> warm = new ArrayList<>(List.of("--ode-warmup", Integer.toString(Math.max(1, p.iterations() / 2))));
        warm.addAll(pairs);
        r.add(new Run(ODE_WARMUP, "the first half of the iterations regress onto the teacher's ODE pairs, then ADD", warm, false));
        List<String> recipe = new ArrayList<>(List.of("--preset", "add4j"));
        recipe.addAll(pairs);
        r.add(new Run(RECIPE, "add4j's recipe (--preset add4j): teacher-encoder heads, no DiffAugment, text+img-if-seen, "
                + "lambda 25, student lr 1e-4, regression loss", recipe, false));
        return List.copyOf(r);
    }

    /** The groups, in the paper's order; group e is listed for completeness and has no rows here. */
    public static List<Group> groups() {
        List<Group> g = new ArrayList<>();
        g.add(new Group("a", "(a) The discriminator's feature network", List.of(
                new Member(BASE, "DINO ViT (the paper's default)", Table1.DINOV2_VIT_S),
                new Member(VIT_SUPERVISED, "supervised ViT (no such row in the paper)", null),
                new Member(VIT_SSL, "self-supervised ViT, iBOT + DINOv2 recipe, convolutional stem (not in the paper)", null),
                new Member(VIT_UNTRAINED, "untrained ViT (no such row in the paper)", null),
                new Member(TEACHER_ENCODER, "the teacher's encoder (LADD; not in the paper)", null)),
                List.of(Table1.DINOV1_VIT_S, Table1.DINOV2_VIT_L, Table1.CLIP_VIT_L),
                List.of(new Claim.Best(Claim.Metric.FID, BASE, List.of(BASE, VIT_SUPERVISED, VIT_UNTRAINED), List.of(Table1.DINOV1_VIT_S,
                        Table1.DINOV2_VIT_L, Table1.CLIP_VIT_L), "the DINO-trained ViT gives the lowest FID of the feature networks "
                        + "(paper: DINOv2 ViT-S 20.6 against 21.5-24.0)")),
                "Here the ViTs are 4-block, width-64 networks trained on Fashion-MNIST (models/README.md); the paper's are "
                        + "DINOv2 / DINOv1 / CLIP networks trained on web images. The paper has no supervised or untrained row."));
        g.add(new Group("b", "(b) The discriminator's condition", List.of(
                new Member(COND_NONE, "none", Table1.COND_NONE),
                new Member(COND_TEXT, "text", Table1.COND_TEXT),
                new Member(COND_IMG, "image", Table1.COND_IMG),
                new Member(BASE, "text + image (the paper's default)", Table1.COND_BOTH),
                new Member(COND_IMG_IF_SEEN, "text + image where the input was not pure noise (not in the paper)", null)),
                List.of(),
                List.of(new Claim.Best(Claim.Metric.FID, BASE, List.of(COND_NONE, COND_TEXT, COND_IMG, BASE), List.of(),
                        "text + image conditioning gives the lowest FID (paper: 20.6 against 21.1-21.2)")),
                ""));
        g.add(new Group("c", "(c) The student's initialisation", List.of(
                new Member(BASE, "from the teacher's weights (the paper's default)", Table1.INIT_PRETRAINED),
                new Member(INIT_RANDOM, "random", Table1.INIT_RANDOM)),
                List.of(),
                List.of(new Claim.Fails(INIT_RANDOM, BASE, "a randomly initialised student fails: FID at least "
                        + (int) Claim.FAIL_RATIO + " times the pretrained one's (paper: 293.6 against 20.6)")),
                ""));
        g.add(new Group("d", "(d) The losses", List.of(
                new Member(BASE, "adversarial + distillation (the paper's default)", Table1.BOTH),
                new Member(LOSS_ADV, "adversarial only", Table1.ADV_ONLY),
                new Member(LOSS_DISTILL, "distillation only", Table1.DISTILL_ONLY)),
                List.of(),
                List.of(new Claim.Fails(LOSS_DISTILL, BASE, "the distillation loss alone fails: FID at least "
                                + (int) Claim.FAIL_RATIO + " times both losses' (paper: 315.6 against 20.6)"),
                        new Claim.Close(LOSS_ADV, BASE, "the adversarial loss alone comes close to both: FID within "
                                + Math.round(Claim.CLOSE * 100) + " % (paper: 20.8 against 20.6)")),
                ""));
        g.add(new Group("d-weighting", "(d) The distillation loss's weighting c(t)", List.of(
                new Member(BASE, "exp (the paper's default)", Table1.EXP),
                new Member(WEIGHT_SDS, "SDS", Table1.SDS),
                new Member(WEIGHT_NFSD, "NFSD", Table1.NFSD)),
                List.of(),
                List.of(new Claim.Best(Claim.Metric.FID, BASE, List.of(BASE, WEIGHT_SDS, WEIGHT_NFSD), List.of(),
                                "exp gives the lowest FID (paper: 20.6 against 21.8 and 22.3)"),
                        new Claim.Better(Claim.Metric.CLIP_SCORE, List.of(WEIGHT_SDS, WEIGHT_NFSD), BASE,
                                "SDS and NFSD give a higher CLIP score than exp (paper: 0.325 and 0.327 against 0.319)")),
                "NFSD here: the teacher's guidance direction without a negative prompt (add-method.md section 6)."));
        g.add(new Group("e", "(e) Student and teacher networks", List.of(), Table1.STUDENT_TEACHER, List.of(),
                "Does not apply here: add4j has one teacher and one student network."));
        g.add(new Group("f", "(f) Teacher steps for the distillation target", List.of(
                new Member(BASE, "1 (the paper's default)", Table1.TEACHER_1),
                new Member(TEACHER_STEPS_2, "2", Table1.TEACHER_2),
                new Member(TEACHER_STEPS_4, "4", Table1.TEACHER_4)),
                List.of(),
                List.of(new Claim.Close(TEACHER_STEPS_2, BASE, "2 teacher steps give no clear change: FID within "
                                + Math.round(Claim.CLOSE * 100) + " % of 1 step's (paper: 20.8 against 20.6)"),
                        new Claim.Close(TEACHER_STEPS_4, BASE, "4 teacher steps give no clear change: FID within "
                                + Math.round(Claim.CLOSE * 100) + " % of 1 step's (paper: 20.3 against 20.6)")),
                ""));
        g.add(new Group("own", "add4j's additions (not in the paper)", List.of(
                new Member(BASE, "the paper's settings", null),
                new Member(NO_DIFFAUGMENT, "no DiffAugment", null),
                new Member(REGRESSION, "+ DMD's regression loss (anti-collapse)", null),
                new Member(ODE_WARMUP, "+ ODE warm-up (first half of the iterations)", null),
                new Member(RECIPE, "add4j's recipe (--preset add4j)", null)),
                List.of(), List.of(),
                "Not in the paper, so no verdict: models/README.md, \"The recipe\", measures these at 150 iterations."));
        return List.copyOf(g);
    }

    /** The group ids {@code --rows} takes, in order. */
    public static List<String> groupIds() {
        return groups().stream().map(Group::id).filter(id -> !id.equals("d-weighting")).toList();
    }

    /**
     * The groups {@code --rows} names ("a,b,d": d brings both of its parts), in the paper's order.
     * @throws Add4jException for an unknown id
     */
    public static List<Group> select(String rows) {
        Set<String> want = new LinkedHashSet<>();
        for (String part : rows.split(",", -1)) {
            String id = part.trim().toLowerCase(Locale.ROOT);
            if (!groupIds().contains(id))
                throw new Add4jException("--rows: unknown group '" + part.trim() + "'; expected a comma list of " + String.join(", ", groupIds()));
            want.add(id);
        }
        return groups().stream().filter(g -> want.contains(g.id()) || (g.id().equals("d-weighting") && want.contains("d"))).toList();
    }

    /** The runs the groups need, each once, in {@link #runs} order. */
    public static List<Run> runsOf(List<Group> groups, List<Run> all) {
        Set<String> names = new LinkedHashSet<>();
        for (Group g : groups) for (Member m : g.members()) names.add(m.run());
        return all.stream().filter(r -> names.contains(r.name())).toList();
    }
}
