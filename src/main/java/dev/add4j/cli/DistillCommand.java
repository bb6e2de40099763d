package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.add.AddConfig;
import dev.add4j.add.AddTrainer;
import dev.add4j.add.DistillWeighting;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.TrainingData;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.disc.Discriminator;
import dev.add4j.dist.Group;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.TestData;
import dev.add4j.eval.Evaluation;
import dev.add4j.features.Vit;
import dev.add4j.io.ModelFile;
import dev.add4j.io.Provenance;
import dev.add4j.io.SafeTensors;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AnomalyMode;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code add4j distill}: Adversarial Diffusion Distillation of a teacher into a 1-4 step student. */
@Command(name = "distill", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Distil a teacher into a 1-4 step student with ADD (adversarial + score distillation loss). "
                + "Writes OUT/student.safetensors (EMA weights), student-best.safetensors (best 1-step FID, with "
                + "--eval-every), checkpoints, config.json, metrics.jsonl, eval.jsonl and samples/step-N.png.")
public final class DistillCommand implements Callable<Integer> {
    static final Path DEFAULT_TEACHER = Dataset.FMNIST.teacher(), DEFAULT_FEATURES = Dataset.FMNIST.features();

    @Option(names = "--teacher", paramLabel = "FILE", description = "The frozen teacher (default: " + "models/teacher-fmnist.safetensors).") Path teacher;
    @Option(names = "--features", paramLabel = "FILE", description = "The discriminator's frozen feature ViT, from train-features (default: models/features-fmnist.safetensors).") Path features;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run directory.") Path out;
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, 'embedded' for the shipped subset, or a captioned image folder (its train "
                    + "split; no --eval-every or --class-groups, which need Fashion-MNIST's classes) "
                    + "(default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).") String data;
    @Option(names = "--preset", defaultValue = "add4j", paramLabel = "add4j|paper", description = "Where the settings below "
            + "start: add4j's recipe (heads on the teacher's encoder, no DiffAugment, DMD's regression loss; models/README.md) "
            + "or exactly the paper's; each flag given overrides its setting (default: ${DEFAULT-VALUE}).") String preset;
    @Option(names = "--steps", defaultValue = "1000", description = "ADD iterations (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--batch", defaultValue = "32", description = "Images per iteration (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--loss", defaultValue = "adv+distill", paramLabel = "adv+distill|adv|distill", description = "Student losses (default: ${DEFAULT-VALUE}).") String loss;
    @Option(names = "--weighting", defaultValue = "exp", paramLabel = "exp|sds|nfsd", description = "Distillation weighting c(t) (default: ${DEFAULT-VALUE}).") String weighting;
    @Option(names = "--cond", paramLabel = "text+img|text|img|none|text+img-if-seen",
            description = "Discriminator conditioning; text+img-if-seen (not in the paper) leaves the image embedding out "
                    + "where the student's input was pure noise (default: text+img-if-seen; paper: text+img).") String cond;
    @Option(names = "--student-init", defaultValue = "teacher", paramLabel = "teacher|random", description = "Student initialisation (default: ${DEFAULT-VALUE}).") String studentInit;
    @Option(names = "--init-from", paramLabel = "FILE", description = "Start the student from this model file "
            + "(a teacher or a student of the same network, e.g. an earlier run's student-best.safetensors) in place of "
            + "--student-init; a new run only.") Path initFrom;
    @Option(names = "--teacher-steps", defaultValue = "1", paramLabel = "1|2|4", description = "Consecutive teacher steps for the target (default: ${DEFAULT-VALUE}).") int teacherSteps;
    @Option(names = "--student-timesteps", defaultValue = "999,749,499,249", description = "The student's timesteps, 999 first (default: ${DEFAULT-VALUE}).") String studentTimesteps;
    @Option(names = "--lambda", description = "Weight of the distillation loss (default: " + AddConfig.RECIPE_LAMBDA + "; paper: 2.5).") Double lambda;
    @Option(names = "--r1", defaultValue = "1e-5", description = "R1 strength gamma (default: ${DEFAULT-VALUE}).") double r1;
    @Option(names = "--teacher-guidance", defaultValue = "0", description = "Teacher's CFG scale for the target; NFSD's s (default: ${DEFAULT-VALUE}).") double teacherGuidance;
    @Option(names = "--t-range", defaultValue = "20,980", paramLabel = "MIN,MAX", description = "Re-noising timesteps of the distillation loss (default: ${DEFAULT-VALUE}).") String tRange;
    @Option(names = "--diffaugment", paramLabel = "POLICY", description = "DiffAugment before the feature network: none, "
            + "or a comma list of colour, translation and cutout (default: none; paper: colour,translation,cutout).") String diffAugment;
    @Option(names = "--no-diffaugment", description = "Feed the feature network unaugmented images (--diffaugment none).") boolean noDiffAugment;
    @Option(names = "--student-lr", description = "Student Adam learning rate (default: " + AddConfig.RECIPE_STUDENT_LR + "; paper: 2e-5).") Double studentLr;
    @Option(names = "--disc-lr", defaultValue = "2e-3", description = "Discriminator heads' Adam learning rate, betas (0, 0.99) (default: ${DEFAULT-VALUE}).") double discLr;
    @Option(names = "--ema", defaultValue = "0.99", description = "EMA decay of the student (default: ${DEFAULT-VALUE}).") double ema;
    @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--resume", description = "Continue the run in --out from its checkpoint (same options; --steps may be raised).") boolean resume;
    @Option(names = "--max-minutes", defaultValue = "0", description = "Stop (with a checkpoint) after this many minutes; 0: no limit.") double maxMinutes;
    @Option(names = "--checkpoint-every", defaultValue = "100", description = "Iterations between checkpoints (default: ${DEFAULT-VALUE}).") long checkpointEvery;
    @Option(names = "--log-every", defaultValue = "10", description = "Iterations between progress lines (default: ${DEFAULT-VALUE}).") long logEvery;
    @Option(names = "--sample-every", defaultValue = "100", description = "Iterations between sample grids; 0: none (default: ${DEFAULT-VALUE}).") long sampleEvery;
    @Option(names = "--eval-every", defaultValue = "0", description = "Iterations between 1-step evaluations that keep the best student; 0: none (default: ${DEFAULT-VALUE}).") long evalEvery;
    @Option(names = "--eval-n", defaultValue = "500", description = "Images per evaluation during training (default: ${DEFAULT-VALUE}).") int evalN;
    @Option(names = "--eval-net", paramLabel = "FILE", description = "Eval network for --eval-every (default: models/evalnet-fmnist.safetensors).") Path evalNet;
    @Option(names = "--caption-cache", paramLabel = "FILE", description = "Cache of the captions' MiniLM embeddings; "
            + "where MiniLM's model is missing (a packed GPU runtime), --eval-every's prompts come from it too.") Path captionCache;
    @Option(names = "--class-groups", description = "Batches of groups of 8 images of one class (the heads' batch-norm "
            + "groups), so the discriminator can see fakes that all look alike. Not in the paper; off by default.") boolean classGroups;
    @Option(names = "--ode-warmup", defaultValue = "0", paramLabel = "N", description = "First regress the student for N "
            + "iterations onto the teacher's DDIM samples z -> DDIM(z), so the 1-step student starts using its noise; "
            + "counted in --steps. Not in the paper; 0 (default): off.") int odeWarmup;
    @Option(names = "--disc-warmup", defaultValue = "0", paramLabel = "N", description = "ADD iterations, after the ODE "
            + "warm-up, in which only the discriminator learns, so a student close to the real images first meets heads "
            + "that can tell it apart; counted in --steps. Not in the paper; 0 (default): off.") int discWarmup;
    @Option(names = "--ode-pairs", description = "Warm-up and regression (noise, teacher sample) pairs (default: "
            + AddConfig.RECIPE_PAIRS + "; paper: " + PAPER_PAIRS + ").") Integer odePairs;
    @Option(names = "--ode-teacher-steps", description = "Teacher DDIM steps per pair (default: " + AddConfig.RECIPE_PAIR_STEPS
            + "; paper: " + PAPER_PAIR_STEPS + ").") Integer odeTeacherSteps;
    @Option(names = "--ode-lr", defaultValue = "1e-4", description = "Student learning rate during the warm-up (default: ${DEFAULT-VALUE}).") double odeLr;
    @Option(names = "--ode-lr-schedule", defaultValue = "constant", paramLabel = "constant|cosine", description = "The warm-up's "
            + "learning rate: constant, or decaying to 0 along a half cosine over --ode-warmup (default: ${DEFAULT-VALUE}).") String odeLrSchedule;
    @Option(names = "--reg-weight", paramLabel = "MU", description = "Add MU x the ODE warm-up's "
            + "regression loss on the teacher's (noise, image) pairs (--ode-pairs, --ode-teacher-steps) to the "
            + "student's loss in every ADD iteration, against mode collapse (DMD's regression loss; not in the paper); "
            + "0: off (default: " + AddConfig.RECIPE_REG_WEIGHT + "; paper: 0).") Double regWeight;
    @Option(names = "--disc-features", paramLabel = "vit|teacher[:T]", description = "What the "
            + "discriminator's heads read: the frozen feature ViT (--features; the paper), or the frozen teacher's encoder on "
            + "images noised to t ~ U[0,T] (LADD's generative features, not in ADD; teacher = teacher:"
            + AddConfig.DiscBackbone.DEFAULT_T_MAX + ") (default: teacher:100; paper: vit).") String discFeatures;
    @Option(names = "--adv-ratio", defaultValue = "0", paramLabel = "R", description = "Weigh the adversarial loss in "
            + "every iteration so that its gradient on the student's output is R times that of lambda x L_distill (VQGAN's "
            + "adaptive weight; not in the paper); 0 (default): weight 1.") double advRatio;
    @Option(names = "--disc-steps", defaultValue = "1", paramLabel = "K", description = "Discriminator updates per ADD "
            + "iteration: K - 1 with the student frozen, on batches of their own, then the iteration's (DMD2's two time-scale "
            + "rule; not in the paper) (default: ${DEFAULT-VALUE}: the paper).") int discSteps;
    @Option(names = "--detect-anomaly", description = "Debugging: autograd names the operation whose backward first gives NaN, "
            + "and the run stops there (slow).") boolean detectAnomaly;
    @Mixin Main.RestartOption restarts;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;
    /** The command line the run's files record; null: this process's ({@code add4j ablate} runs distill in-process). */
    String command;
    /** The restarts the run took after a non-finite loss (add4j ablate reports them). */
    int restartsTaken;

    @Override
    public Integer call() throws Exception {
        AddConfig cfg = config();
        Outputs.runDirectory(out, force.force, resume);
        Path teacherFile = existing(teacher != null ? teacher : DEFAULT_TEACHER, "--teacher", "add4j train-teacher");
        Path featuresFile = existing(features != null ? features : DEFAULT_FEATURES, "--features", "add4j train-features --out FILE");
        Path initFile = initFrom != null ? existing(initFrom, "--init-from", "add4j distill --out DIR (DIR/student-best.safetensors)") : null;
        if (initFile != null && resume) throw new Add4jException("--init-from starts a new run; a resumed run continues from its checkpoint");
        Path evalNetFile = evalEvery > 0 ? EvalCommand.evalNetFile(data, evalNet) : null;
        if (evalEvery < 0 || sampleEvery < 0 || checkpointEvery < 0 || logEvery < 1)
            throw new Add4jException("--eval-every, --sample-every and --checkpoint-every must be >= 0, --log-every >= 1");
        if (evalEvery > 0) TestData.checkN(data, "--eval-n", evalN);
        int maxRestarts = restarts.checked();
        Device device = deviceOption.init();
        ModelFile.Loaded teacherModel = ModelFile.load(teacherFile, device);
        VPredictionModel t = teacherModel.model();
        // bad --data fails before anything is written; a folder is converted for the teacher's channels and size
        TrainingData train = TrainingData.load(data, CaptionTable.TRAIN, t.channels(), t.imageSize(), System.out);
        if (!train.hasClasses() && classGroups)
            throw new Add4jException("--data " + data + ": a captioned folder has no classes, which --class-groups needs");
        TestData test = evalEvery > 0 ? TestData.open(data) : null;
        ModelFile.Loaded initModel = initFile != null ? ModelFile.load(initFile, device) : null;
        String teacherName = "the teacher " + teacherFile;
        if (initModel != null)
            ModelFile.requireSameShape(t, teacherName, initModel.model().channels(), initModel.model().imageSize(), "--init-from " + initFile);
        Vit vit = Vit.load(featuresFile);
        // the ViT's position embedding would stretch to another size, but features learnt on other images are not the paper's F
        ModelFile.requireSameShape(t, teacherName, vit.config().channels(), vit.config().imageSize(), "--features " + featuresFile);
        Files.createDirectories(out);
        var prov = Provenance.of(command != null ? command : Main.invocation());
        prov.put("add4j.teacher", teacherFile.toString());
        prov.put("add4j.features", featuresFile.toString());
        if (initFile != null) prov.put("add4j.init_from", initFile.toString());
        String resumedInit = resume ? resumedInitFrom(out) : null;       // where the run began, kept over sittings
        if (resumedInit != null) prov.put("add4j.init_from", resumedInit);
        prov.put("add4j.data", train.describe());
        if (detectAnomaly) AnomalyMode.set_enabled(true, true); // process-wide: turned off again below
        try (var scope = new PointerScope(); TextEncoder text = evalEvery > 0 ? TextEncoder.forRuntime(captionCache) : null;
             CaptionedImages images = train.captioned(captionCache, device)) {
            AddTrainer.Monitor monitor = new AddTrainer.Monitor(sampleEvery, evalEvery, evalEvery > 0 ? evalSetup(test, evalNetFile, text, device, t) : null);
            try (AddTrainer trainer = new AddTrainer(cfg, teacherModel, vit, images, out, resume, prov, monitor)) {
                if (initModel != null) trainer.initStudentFrom(initModel.model().net());
                boolean speaks = Group.current().isMain();   // rank 0 writes the student, so only it says so
                if (speaks) System.out.printf("distill: student %,d parameters (init %s), feature ViT %d blocks x %d, %d heads on the %s, "
                                + "%d training images, device %s, iterations %d..%d%n",
                        trainer.student().net().parameterCount(), initFile != null ? initFile.toString() : resumedInit != null ? resumedInit : cfg.paper().studentInit().cliName(), vit.config().depth(), vit.width(),
                        trainer.discriminator().heads().heads(), trainer.discriminator().backbone(), images.size(),
                        device.str().getString(), trainer.startStep(), cfg.steps());
                if (trainer.startStep() == cfg.steps()) {
                    System.out.println(out + ": the run is already finished (iteration " + cfg.steps() + " of " + cfg.steps()
                            + "); nothing written. Its student is " + out.resolve(AddTrainer.MODEL) + "; a larger --steps continues it");
                    return 0;
                }
                long done;
                try {
                    done = trainer.train(maxMinutes, checkpointEvery, logEvery, maxRestarts);
                } finally {
                    restartsTaken = trainer.loop().restarts().size();
                }
                if (speaks) System.out.println("wrote " + out.resolve(AddTrainer.MODEL) + " after " + done + " iterations"
                        + (evalEvery > 0 ? " (best 1-step student: " + out.resolve(AddTrainer.BEST) + ")" : ""));
            }
        } finally {
            if (detectAnomaly) AnomalyMode.set_enabled(false);
        }
        return 0;
    }

    AddConfig config() {
        String[] range = tRange.split(",");
        if (range.length != 2) throw new Add4jException("--t-range: expected MIN,MAX, got '" + tRange + "'");
        int tMin, tMax;
        try {
            tMin = Integer.parseInt(range[0].trim());
            tMax = Integer.parseInt(range[1].trim());
        } catch (NumberFormatException e) {
            throw new Add4jException("--t-range: expected two integers MIN,MAX, got '" + tRange + "'");
        }
        List<Integer> ts = Timesteps.parse(studentTimesteps, true);
        AddConfig p = AddConfig.Preset.parse(preset).config(steps, batch, seed);
        double mu = regWeight != null ? regWeight : p.extras().regWeight();
        int pairs = odePairs != null ? odePairs : p.warmup().pairs() > 0 ? p.warmup().pairs() : PAPER_PAIRS;
        int pairSteps = odeTeacherSteps != null ? odeTeacherSteps : p.warmup().pairs() > 0 ? p.warmup().teacherSteps() : PAPER_PAIR_STEPS;
        // the preset gives the flags without a default value of their own; every other flag is its setting
        var paper = new AddConfig.Paper(ts, AddConfig.Loss.parse(loss), DistillWeighting.parse(weighting),
                cond != null ? Cond.parse(cond) : p.paper().cond(), AddConfig.StudentInit.parse(studentInit), teacherSteps,
                lambda != null ? lambda : p.paper().lambda(), r1, teacherGuidance, tMin, tMax, augmentPolicy(p.paper().diffAugment()));
        var optim = new AddConfig.Optim(studentLr != null ? studentLr : p.optim().studentLr(), discLr, ema);
        var warmup = odeWarmup != 0 || mu > 0 ? new AddConfig.Warmup(odeWarmup, pairs, pairSteps, odeLr, cosine(odeLrSchedule))
                : AddConfig.Warmup.NONE;
        var extras = new AddConfig.Extras(classGroups, discWarmup, mu,
                discFeatures != null ? AddConfig.DiscBackbone.parse(discFeatures) : p.extras().discBackbone(), advRatio, discSteps);
        return new AddConfig(steps, batch, seed, paper, optim, warmup, extras);
    }

    // the pairs of a warm-up or a regression loss asked for on top of the paper's preset
    static final int PAPER_PAIRS = 4096, PAPER_PAIR_STEPS = 8;

    private static boolean cosine(String schedule) {
        return switch (schedule.trim()) {
            case "constant" -> false;
            case "cosine" -> true;
            default -> throw new Add4jException("--ode-lr-schedule: expected constant or cosine, got '" + schedule + "'");
        };
    }

    private DiffAugment.Policy augmentPolicy(DiffAugment.Policy preset) {
        if (noDiffAugment && diffAugment != null)
            throw new Add4jException("give --diffaugment or --no-diffaugment, not both");
        return noDiffAugment ? DiffAugment.Policy.NONE : diffAugment == null ? preset : DiffAugment.Policy.parse(diffAugment);
    }

    private Evaluation.Setup evalSetup(TestData test, Path netFile, TextEncoder text, Device device, VPredictionModel teacher) {
        EvalNet.Loaded net = EvalNet.load(netFile, device);
        net.requireShape(teacher.channels(), teacher.imageSize(), "--teacher");
        return test.setup(net, text, device, evalN, seed + 1, EVAL_BATCH, System.err);
    }

    /** Images per sampling and eval-net batch of the evaluations during training. */
    private static final int EVAL_BATCH = 250;

    static Path existing(Path f, String option, String howToMake) {
        if (!Files.isRegularFile(f)) throw new Add4jException(option + " " + f + ": no such file; make one with: " + howToMake);
        return f;
    }

    /** The --init-from of a run being resumed, as its last student file records it (null: none, or no file yet). */
    private static String resumedInitFrom(Path out) {
        Path student = out.resolve(AddTrainer.MODEL);
        if (!Files.isRegularFile(student)) return null;
        try (var scope = new PointerScope()) { return SafeTensors.read(student).metadata().get("add4j.init_from"); }
    }
}
