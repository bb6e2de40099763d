package dev.add4j.add;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.disc.Discriminator;
import dev.add4j.disc.LocalBatchNorm;
import dev.add4j.disc.TeacherFeatures;
import dev.add4j.dist.Group;
import dev.add4j.eval.Evaluation;
import dev.add4j.features.Vit;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import dev.add4j.text.TextEncoder;
import dev.add4j.train.Ema;
import dev.add4j.train.Optimizers;
import dev.add4j.train.RunDir;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Runs ADD: builds student, EMA, discriminator and optimisers, and hands the {@link TrainLoop} the run's stages
 * ({@link AddStages}), its grids and quick evaluations ({@link EmaStudent}). Run directory ({@link RunDir}): config.json,
 * checkpoint/ (student, EMA, heads, both optimisers), metrics.jsonl, eval.jsonl, samples/, student.safetensors (the EMA
 * student), student-best.safetensors, and ode-pairs.safetensors while the ODE pairs are in use.
 */
public final class AddTrainer implements AutoCloseable {
    public static final String LOG = "metrics.jsonl", EVAL_LOG = "eval.jsonl", MODEL = "student.safetensors",
            BEST = "student-best.safetensors", SAMPLES = EmaStudent.SAMPLES;

    /** Sample grids every {@code sampleEvery} iterations, quick evaluations against {@code eval} every {@code evalEvery} (0: never). */
    public record Monitor(long sampleEvery, long evalEvery, Evaluation.Setup eval) {
        public static final Monitor NONE = new Monitor(0, 0, null);
    }

    private final Path log;
    private final VPredictionModel student;
    private final UNet ema;
    private final Discriminator disc;
    private final Adam studentOpt, discOpt;
    private final AddStep addStep;
    private final AddStages stages;
    private final EmaStudent shown;
    private final TrainLoop loop;

    /** Sets up a run in {@code out}: a new one, or with {@code resume} the one there (see {@link RunDir#open}). */
    public AddTrainer(AddConfig cfg, ModelFile.Loaded teacher, Vit features, CaptionedImages data, Path out, boolean resume,
                      Map<String, String> provenance, Monitor monitor) {
        if (teacher.isStudent()) throw new Add4jException("--teacher: expected a teacher model, got a student");
        ModelFile.requireSameShape(teacher.model(), "the teacher", data.channels(), data.imageSize(), "the data");
        checkRanks(cfg, Group.current().size());
        this.log = out.resolve(LOG);
        UNet net;
        // the initial weights (a random student, the heads) come from libtorch's one global generator: seeded here,
        // with no draw from another thread in between (add4j ablate --parallel runs several trainers in one process)
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {
            torch.manual_seed(cfg.seed());
            net = new UNet(teacher.model().net().config());
            if (cfg.paper().studentInit() == AddConfig.StudentInit.TEACHER) teacher.model().net().copyTo(net);
            net.to(data.device()).train(true).requiresGrad(true);
            student = new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr(), teacher.model().imageSize());
            ema = new UNet(net.config());
            ema.to(data.device());
            features.to(data.device());
            disc = new Discriminator(features, cfg.paper().cond(), cfg.paper().diffAugment(), TextEncoder.DIM,
                    cfg.extras().discBackbone().teacher() ? new TeacherFeatures(teacher.model(), cfg.extras().discBackbone().tMax()) : null);
            disc.heads().to(data.device());
        }
        studentOpt = Optimizers.adam(net.parameterVector(), cfg.optim().studentLr(), 0.9, 0.999, 1e-8);
        discOpt = Optimizers.adam(disc.heads().parameterVector(), cfg.optim().discLr(), 0.0, 0.99, 1e-8); // StyleGAN-T
        stages = new AddStages(cfg, data, teacher.model(), student, studentOpt, out.resolve(OdeWarmup.CACHE));
        try (var scope = new PointerScope()) {
            addStep = new AddStep(cfg, student, new TeacherTarget(teacher.model(), data.empty().retained(), cfg), disc, studentOpt, discOpt,
                    stages.regression());
        }
        shown = new EmaStudent(cfg, new VPredictionModel(ema, student.schedule(), student.imageSize()), out, provenance, monitor.eval(), data);
        var parts = new Checkpoint.Parts(Map.of("student", net, "ema", ema, "heads", disc.heads()),
                Map.of("student-optimizer", studentOpt, "disc-optimizer", discOpt));
        var spec = new RunDir.Spec(out, "add", "an ADD run", cfg, cfg.steps(), parts, data.device(), List.of(LOG, EVAL_LOG), MODEL);
        Ema emaUpdate = new Ema(net, ema, cfg.optim().emaDecay());   // starts the EMA at the student: before a resume reads it
        RunDir dir = RunDir.open(spec, resume, false, cfg::checkResumes, done -> shown.save(out.resolve(MODEL), done, Map.of()));
        loop = new TrainLoop(stages.list(addStep)).saving(dir).ema(emaUpdate)
                .every(monitor.sampleEvery(), shown::writeSamples).eval(monitor.eval() != null ? monitor.evalEvery() : 0, shown, out.resolve(EVAL_LOG));
    }

    /**
     * Refuses what a data-parallel run of {@code ranks} cannot repeat exactly: a batch that does not split into
     * equal shards, and heads' normalisation groups ({@link LocalBatchNorm#GROUP}) that would straddle two ranks.
     */
    static void checkRanks(AddConfig cfg, int ranks) {
        if (ranks == 1) return;
        if (cfg.batch() % ranks != 0 || (cfg.paper().loss().adversarial() && (cfg.batch() / ranks) % LocalBatchNorm.GROUP != 0))
            throw new Add4jException("--batch " + cfg.batch() + " does not split over " + ranks + " ranks"
                    + (cfg.paper().loss().adversarial() ? " in shards of a multiple of " + LocalBatchNorm.GROUP
                    + " (the heads normalise over groups of " + LocalBatchNorm.GROUP + " images, which must stay inside a rank)" : "")
                    + ": make it a multiple of " + (cfg.paper().loss().adversarial() ? ranks * LocalBatchNorm.GROUP : ranks));
    }

    /** Starts the student (and its EMA) from other weights of its network; a resumed run has its own, and refuses. */
    public void initStudentFrom(UNet weights) {
        if (startStep() > 0) throw new Add4jException("--init-from: the run resumes at iteration " + startStep() + " with its own weights");
        weights.copyTo(student.net());
        weights.copyTo(ema);
    }

    public VPredictionModel student() { return student; }
    public UNet ema() { return ema; }
    public Discriminator discriminator() { return disc; }
    public long startStep() { return loop.start(); }
    /** The iteration itself, for callers that bring their own batches. */
    public AddStep addStep() { return addStep; }
    /** The run's loop: its iterations ({@link TrainLoop#step} as the run takes them), saves and restarts. */
    public TrainLoop loop() { return loop; }
    /** A sample grid of the EMA student now, as after {@code done} iterations. */
    public void writeSamples(long done) { shown.writeSamples(done); }

    /** Runs the remaining iterations; returns the iterations done (fewer when the time budget ran out). */
    public long train(double maxMinutes, long checkpointEvery, long logEvery, int maxRestarts) {
        return loop.run(new TrainLoop.Options(logEvery, checkpointEvery, maxMinutes, maxRestarts, log));
    }

    @Override public void close() {
        stages.close();
        studentOpt.close();
        discOpt.close();
    }
}
