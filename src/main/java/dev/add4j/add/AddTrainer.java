package dev.add4j.add;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.ModelFile;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.disc.Discriminator;
import dev.add4j.disc.LocalBatchNorm;
import dev.add4j.disc.TeacherFeatures;
import dev.add4j.eval.Evaluation;
import dev.add4j.features.Vit;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.nn.UNet;
import dev.add4j.text.TextEncoder;
import dev.add4j.train.CaptionedImages;
import dev.add4j.train.Ema;
import dev.add4j.train.Optimizers;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Runs ADD: builds student, teacher, discriminator and optimisers, and around {@link AddStep} does what a run
 * needs: data, EMA, progress, {@code metrics.jsonl}, sample grids, a quick 1-step evaluation with the best student
 * kept, and atomic checkpoints that {@code --resume} continues bit for bit.
 * <p>Run directory: {@code config.json}, {@code checkpoint/} (student, EMA, heads and both optimisers' states: see
 * {@link Checkpoint}), {@code metrics.jsonl}, {@code eval.jsonl},
 * {@code samples/step-NNNNNN.png}, {@code student.safetensors} (the EMA student) and {@code student-best.safetensors};
 * during an ODE warm-up also {@code ode-pairs.safetensors}, its pairs for {@code --resume} (deleted when it ends).
 */
public final class AddTrainer implements AutoCloseable {
    public static final String LOG = "metrics.jsonl", EVAL_LOG = "eval.jsonl", MODEL = "student.safetensors",
            BEST = "student-best.safetensors", CONFIG = "config.json", SAMPLES = "samples";
    static final String TRAINER = "add";                 // the checkpoint's trainer

    /**
     * When to look at the student during the run.
     * @param sampleEvery steps between sample grids (0: never)
     * @param evalEvery   steps between quick evaluations (0: never; needs {@code eval})
     * @param eval        what a quick evaluation measures against (null: none)
     */
    public record Monitor(long sampleEvery, long evalEvery, Evaluation.Setup eval) {
        public static final Monitor NONE = new Monitor(0, 0, null);
    }

    private final AddConfig cfg;
    private final CaptionedImages data;
    private final Path out;
    private final Map<String, String> provenance;
    private final Monitor monitor;
    private final VPredictionModel student;
    private final UNet ema;
    private final Ema emaUpdate;
    private final Discriminator disc;
    private final Adam studentOpt, discOpt;
    private final AddStep addStep;
    private final TextCond sampleCond;
    private final VPredictionModel teacherModel;
    private final Vit features;                          // frozen; the discriminator's backbone
    private final org.bytedeco.pytorch.TensorVector studentParams;
    private final Checkpoint.Parts parts;
    private OdeWarmup warmup;                            // the warm-up's pairs, made when the first warm-up step runs
    private long start;
    private double bestFid = Double.POSITIVE_INFINITY;

    /**
     * Sets up a run in {@code out}. With {@code resume} it continues out's checkpoint (the config must match);
     * without, it refuses a directory that already holds a run, so nothing saved is overwritten.
     */
    public AddTrainer(AddConfig cfg, ModelFile.Loaded teacher, Vit features, CaptionedImages data, Path out, boolean resume,
                      Map<String, String> provenance, Monitor monitor) {
        this.cfg = cfg;
        this.data = data;
        this.out = out;
        this.provenance = provenance;
        this.monitor = monitor;
        this.teacherModel = teacher.model();
        this.features = features;
        if (!resume && (Checkpoint.exists(out) || Files.exists(out.resolve(MODEL))))
            throw new Add4jException(out + " already holds an ADD run: pass --resume to continue it, or choose another --out");
        if (resume && !Checkpoint.exists(out) && !Files.exists(out.resolve(CONFIG)))
            throw new Add4jException(out + ": nothing to resume (no " + Checkpoint.DIR + "/)");
        if (teacher.isStudent()) throw new Add4jException("--teacher: " + "expected a teacher model, got a student");
        UNet net;
        // the initial weights (a random student, the heads) come from libtorch's one global generator: seeded here,
        // with no draw from another thread in between (add4j ablate --parallel runs several trainers in one process)
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {
            torch.manual_seed(cfg.seed());
            UNet.Config unet = teacher.model().net().config();
            net = new UNet(unet);
            if (cfg.paper().studentInit() == AddConfig.StudentInit.TEACHER) teacher.model().net().copyTo(net);
            net.to(data.device()).train(true).requiresGrad(true);
            student = new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr());
            ema = new UNet(unet);
            ema.to(data.device());
            emaUpdate = new Ema(net, ema, cfg.optim().emaDecay());
            features.to(data.device());
            disc = new Discriminator(features, cfg.paper().cond(), cfg.paper().diffAugment(), TextEncoder.DIM,
                    cfg.extras().discBackbone().teacher() ? new TeacherFeatures(teacher.model(), cfg.extras().discBackbone().tMax()) : null);
            disc.heads().to(data.device());
        }
        studentParams = net.parameterVector();
        studentOpt = Optimizers.adam(studentParams, cfg.optim().studentLr(), 0.9, 0.999, 1e-8);
        discOpt = Optimizers.adam(disc.heads().parameterVector(), cfg.optim().discLr(), 0.0, 0.99, 1e-8); // StyleGAN-T
        try (var scope = new PointerScope()) {
            addStep = new AddStep(cfg, student, new TeacherTarget(teacher.model(), retained(data.empty()), cfg), disc, studentOpt, discOpt,
                    (st, s) -> pairs().loss(st, s).total());
            sampleCond = retained(data.batch(cfg.seed() + 7, 0, 40, 0.0).cond()); // 40 fixed captions for the grids
        }
        parts = new Checkpoint.Parts(Map.of("student", net, "ema", ema, "heads", disc.heads()),
                Map.of("student-optimizer", studentOpt, "disc-optimizer", discOpt));
        if (resume) restore();
        writeConfig();                                                 // on resume: the same, or a longer run
    }

    /**
     * Starts the student (and its EMA) from other weights of the same network, e.g. the best student of an earlier
     * run, before the first iteration; a resumed run has its own weights and refuses this.
     */
    public void initStudentFrom(UNet weights) {
        if (start > 0) throw new Add4jException("--init-from: the run resumes at iteration " + start + " with its own weights");
        weights.copyTo(student.net());
        weights.copyTo(ema);
    }

    public VPredictionModel student() { return student; }
    public UNet ema() { return ema; }
    public Discriminator discriminator() { return disc; }
    public long startStep() { return start; }
    /** The iteration itself, for callers that bring their own batches. */
    public AddStep addStep() { return addStep; }

    /**
     * One iteration, then the EMA update and whatever the monitor asks for: an ODE warm-up step for the first
     * {@code cfg.warmup().steps()} iterations, an ADD iteration on the batch of (seed, step) after them.
     */
    public Map<String, Double> step(long s) {
        Map<String, Double> stats;
        if (s < cfg.warmup().steps()) stats = warmupStep(s);
        else stats = addIteration(s);
        emaUpdate.update(s);
        long done = s + 1;
        if (cfg.discOnlyAt(s)) return stats;                           // the student has not changed: nothing to show
        if (monitor.sampleEvery() > 0 && done % monitor.sampleEvery() == 0) writeSamples(done);
        if (monitor.evalEvery() > 0 && monitor.eval() != null && done % monitor.evalEvery() == 0) quickEval(done, System.out);
        return stats;
    }

    private Map<String, Double> warmupStep(long s) {
        setStudentLr(cfg.warmup().lrAt(s));
        Map<String, Double> stats = pairs().step(student, studentOpt, studentParams, s);
        if (s + 1 == cfg.warmup().steps() && !cfg.regression()) finishPairs();   // the pairs are not needed any more
        return stats;
    }

    /** The teacher's (noise, image) pairs of the warm-up and the regression term, made (or read back) on first use. */
    private OdeWarmup pairs() {
        if (warmup == null) warmup = new OdeWarmup(teacherModel, data, cfg, features, out.resolve(OdeWarmup.CACHE), System.out);
        return warmup;
    }

    private void finishPairs() {
        if (warmup == null) return;
        warmup.finish(System.out);
        warmup = null;
    }

    private void setStudentLr(double lr) { studentOpt.param_groups().get(0).options().set_lr(lr); }

    private Map<String, Double> addIteration(long s) {
        if (cfg.warmup().on()) setStudentLr(cfg.optim().studentLr());
        try (var scope = new PointerScope()) {
            CaptionedImages.Batch b = cfg.extras().classGroups()                               // no caption dropout: no guidance
                    ? data.classGroupedBatch(cfg.seed(), s, cfg.batch(), LocalBatchNorm.GROUP)
                    : data.batch(cfg.seed(), s, cfg.batch(), 0.0);
            return addStep.step(b.x0(), b.cond(), s);
        }
    }

    /**
     * A grid of the EMA student at 1 step (top half) and at all its steps (bottom half), on fixed prompts and noise,
     * sampled as {@code add4j sample} will sample the saved student.
     */
    public void writeSamples(long done) {
        try (var scope = new PointerScope(); var g = new org.bytedeco.pytorch.NoGradGuard()) {
            Tensor one = sampleEma(1);
            Tensor all = sampleEma(cfg.paper().studentTimesteps().size());
            Tensor both = torch.cat(new org.bytedeco.pytorch.TensorVector(one, all), 0).cpu();
            Files.createDirectories(out.resolve(SAMPLES));
            Images.writePng(out.resolve(SAMPLES).resolve(String.format("step-%06d.png", done)), Images.grid(both, 10, 2));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Tensor sampleEma(int steps) {
        VPredictionModel m = new VPredictionModel(ema, student.schedule());
        SamplingPlan plan = SamplingPlan.student(cfg.paper().studentTimesteps(), steps, null);             // the student file's plan
        dev.add4j.diffusion.Noise noise = new dev.add4j.diffusion.Noise(cfg.seed(), (int) sampleCond.batch());
        Tensor xT = noise.like(torch.empty(m.imageShape(sampleCond.batch()))).to(data.device(), torch.ScalarType.Float);
        return plan.sample(plan.denoiser(m), student.schedule(), xT, sampleCond, noise);
    }

    /** Measures the EMA student at 1 step; appends to eval.jsonl and keeps the best by FID in student-best.safetensors. */
    public Evaluation.Row quickEval(long done, PrintStream console) {
        Evaluation.Row row;
        try (var scope = new PointerScope()) {
            ModelFile.Loaded loaded = new ModelFile.Loaded(new VPredictionModel(ema, student.schedule()), studentMetadata(done));
            row = Evaluation.evaluate(monitor.eval(), loaded, 1, 0.0, Evaluation.Progress.NONE).row();
        }
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("step", done);
        rec.put("steps", 1);
        rec.put("n", row.n());
        rec.put("fid", row.fid());
        rec.put("class_accuracy", row.classAccuracy());
        rec.put("recall", row.recall());
        rec.put("precision", row.precision());
        rec.put("clip_score", row.clipScore());
        boolean best = row.fid() < bestFid;
        rec.put("best", best);
        TrainLoop.append(out.resolve(EVAL_LOG), Json.compact(rec));
        console.printf(Locale.ROOT, "eval at step %d (EMA student, 1 step, n %d): FID %.3f  class acc %.3f  recall %.3f%s%n",
                done, row.n(), row.fid(), row.classAccuracy(), row.recall(), best ? "  (best so far)" : "");
        if (best) {
            bestFid = row.fid();
            Map<String, String> prov = studentMetadata(done);
            prov.put("add4j.best_fid_1step", String.format(Locale.ROOT, "%.4f (n %d)", row.fid(), row.n()));
            ModelFile.save(out.resolve(BEST), ema, "student", prov);
        }
        return row;
    }

    private Map<String, String> studentMetadata(long done) {
        Map<String, String> m = new LinkedHashMap<>(provenance);
        m.put(ModelFile.KIND, "student");
        m.put(ModelFile.STUDENT_TIMESTEPS, cfg.paper().studentTimesteps().stream().map(String::valueOf).collect(Collectors.joining(",")));
        m.put("add4j.steps", Long.toString(done));
        m.put("add4j.add_config", Json.compact(cfg));
        return m;
    }

    /** Writes the EMA student, then the checkpoint (which commits the step: a student ahead of it is harmless). */
    public void save(long stepsDone) {
        ModelFile.save(out.resolve(MODEL), ema, "student", studentMetadata(stepsDone));
        Checkpoint.save(out, TRAINER, stepsDone, cfg, Map.of("best_fid", Double.toString(bestFid)), parts);
    }

    /** Continues from the checkpoint, checked whole first; a run stopped before its first one starts again at 0. */
    private void restore() {
        Checkpoint.Saved c = Checkpoint.read(out, TRAINER, parts, cfg.steps());
        if (c == null) {
            System.out.println(out + ": no checkpoint yet (the run stopped before its first): starting at iteration 0");
        } else {
            AddConfig saved = c.config(AddConfig.class);
            if (!saved.withSteps(cfg.steps()).equals(cfg))                   // --steps may grow on resume
                throw new Add4jException(c.source() + ": was made with other settings; resume with the same options (a run started before distill's --preset: add --preset paper; saved: " + Json.compact(saved) + ")");
            String best = c.extra().getOrDefault("best_fid", "Infinity");
            try {
                bestFid = Double.parseDouble(best);
            } catch (NumberFormatException e) {
                throw new Add4jException(c.source() + ": best_fid '" + best + "' is not a number");
            }
            c.restore(parts, data.device());
            start = c.step();
            Checkpoint.tidy(out);
        }
        for (String log : List.of(LOG, EVAL_LOG)) {
            int dropped = TrainLoop.truncate(out.resolve(log), start);
            if (dropped > 0) System.out.printf("%s: dropped %d records past iteration %d%n", out.resolve(log), dropped, start);
        }
    }

    /** config.json, unless it already says the same (a finished run resumed writes nothing). */
    private void writeConfig() {
        Path f = out.resolve(CONFIG);
        String json = Json.write(cfg);
        try {
            if (Files.isRegularFile(f) && Files.readString(f).equals(json)) return;
        } catch (IOException e) {
            // unreadable: written again below
        }
        AtomicFiles.writeString(f, json);
    }

    /** Runs the remaining iterations with progress, logging and checkpoints. */
    public long train(double maxMinutes, long checkpointEvery, long logEvery, PrintStream console) {
        var o = new TrainLoop.Options(cfg.steps(), logEvery, checkpointEvery, maxMinutes, out.resolve(LOG));
        long done = TrainLoop.run(start, o, this::step, this::save, console);
        if (done == cfg.steps()) finishPairs();                // kept for a resume until then
        return done;
    }

    private static TextCond retained(TextCond c) {
        return new TextCond(c.tokens().retainReference(), c.mask().retainReference(), c.pooled().retainReference());
    }

    @Override public void close() {
        if (warmup != null) warmup.close();
        studentOpt.close();
        discOpt.close();
    }
}
