package dev.add4j.add;

import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.eval.Evaluation;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The EMA student as an ADD run shows it: the student file with its metadata, the sample grids, and the quick
 * 1-step evaluation whose best student the loop keeps ({@link TrainLoop.Eval}), each as {@code add4j sample} and
 * {@code add4j eval} will see the saved file.
 */
final class EmaStudent implements TrainLoop.Eval {
    static final String SAMPLES = "samples";
    private final AddConfig cfg;
    private final VPredictionModel ema;
    private final Path out;
    private final Map<String, String> provenance;
    private final Evaluation.Setup eval;
    private final TextCond sampleCond;
    private final Device device;

    /**
     * @param ema        the EMA network with the student's schedule
     * @param eval       what a quick evaluation measures against (null: none)
     * @param data       the grids' 40 fixed captions come from its batch of (seed + 7, 0); the EMA network is on its device
     */
    EmaStudent(AddConfig cfg, VPredictionModel ema, Path out, Map<String, String> provenance, Evaluation.Setup eval, CaptionedImages data) {
        this.cfg = cfg;
        this.ema = ema;
        this.out = out;
        this.provenance = provenance;
        this.eval = eval;
        try (var scope = new PointerScope()) {
            this.sampleCond = data.batch(cfg.seed() + 7, 0, 40, 0.0).cond().retained();
        }
        this.device = data.device();
    }

    /** Writes the EMA student after {@code done} iterations to {@code file}, with {@code extra} metadata. */
    void save(Path file, long done, Map<String, String> extra) {
        Map<String, String> m = metadata(done);
        m.putAll(extra);
        ModelFile.save(file, ema, "student", m);
    }

    /** The student file's metadata: the provenance, its kind and timesteps, the iterations and the config. */
    private Map<String, String> metadata(long done) {
        Map<String, String> m = new LinkedHashMap<>(provenance);
        m.put(ModelFile.KIND, "student");
        m.put(ModelFile.STUDENT_TIMESTEPS, cfg.paper().studentTimesteps().stream().map(String::valueOf).collect(Collectors.joining(",")));
        m.put("add4j.steps", Long.toString(done));
        m.put("add4j.add_config", Json.compact(cfg));
        return m;
    }

    /**
     * A grid of the EMA student at 1 step (top half) and at all its steps (bottom half), on fixed prompts and noise,
     * sampled as {@code add4j sample} will sample the saved student: {@code samples/step-NNNNNN.png}.
     */
    void writeSamples(long done) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor one = sample(1), all = sample(cfg.paper().studentTimesteps().size());
            Tensor both = torch.cat(new TensorVector(one, all), 0).cpu();
            Files.createDirectories(out.resolve(SAMPLES));
            Images.writePng(out.resolve(SAMPLES).resolve(String.format("step-%06d.png", done)), Images.grid(both, 10, 2));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Tensor sample(int steps) {
        SamplingPlan plan = SamplingPlan.student(cfg.paper().studentTimesteps(), steps, null);             // the student file's plan
        Noise noise = new Noise(cfg.seed(), (int) sampleCond.batch());
        Tensor xT = noise.like(torch.empty(ema.imageShape(sampleCond.batch()))).to(device, torch.ScalarType.Float);
        return plan.sample(plan.denoiser(ema), ema.schedule(), xT, sampleCond, noise);
    }

    @Override public String name() { return "fid"; }

    /** The EMA student at 1 step: FID (the score), class accuracy, recall, precision and CLIP score. */
    @Override public Measured measure(long done) {
        Evaluation.Row row;
        try (var scope = new PointerScope()) {
            row = Evaluation.evaluate(eval, new ModelFile.Loaded(ema, metadata(done)), 1, 0.0, Evaluation.Progress.NONE).row();
        }
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("steps", 1);
        rec.put("n", row.n());
        rec.put("fid", row.fid());
        rec.put("class_accuracy", row.classAccuracy());
        rec.put("recall", row.recall());
        rec.put("precision", row.precision());
        rec.put("clip_score", row.clipScore());
        return new Measured(row.fid(), rec, String.format(Locale.ROOT, "eval at step %d (EMA student, 1 step, n %d): FID %.3f  class acc %.3f  recall %.3f",
                done, row.n(), row.fid(), row.classAccuracy(), row.recall()));
    }

    /** Keeps the best 1-step student in {@code student-best.safetensors}. */
    @Override public void keep(long done, Measured m) {
        save(out.resolve(AddTrainer.BEST), done, Map.of("add4j.best_fid_1step",
                String.format(Locale.ROOT, "%.4f (n %d)", m.score(), ((Number) m.record().get("n")).intValue())));
    }
}
