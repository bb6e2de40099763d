package dev.add4j.train;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.ModelFile;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.TeacherLoss;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.Json;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Trains the text-conditional teacher: the network, its EMA, the optimiser and the run directory
 * ({@code config.json}, {@code checkpoint/} (see {@link Checkpoint}), {@code train-log.jsonl}, and the shipped EMA
 * weights {@code teacher.safetensors}).
 */
public final class TeacherTrainer implements AutoCloseable {
    public static final String LOG = "train-log.jsonl", MODEL = "teacher.safetensors", CONFIG = "config.json";
    static final String TRAINER = "teacher";                  // the checkpoint's trainer

    private final TeacherConfig cfg;
    private final CaptionedImages data;
    private final Path out;
    private final Map<String, String> provenance;
    private final VPredictionModel model;
    private final UNet ema;
    private final Ema emaUpdate;
    private final AdamW opt;
    private final TensorVector params;
    private final Checkpoint.Parts parts;
    private long start;

    /**
     * Sets up a run in {@code out}. With {@code resume}, continues from out's checkpoint (config must match);
     * without it, refuses a directory that already holds a checkpoint or a model, so nothing saved is overwritten.
     */
    public TeacherTrainer(TeacherConfig cfg, CaptionedImages data, Path out, boolean resume, Map<String, String> provenance) {
        this.cfg = cfg;
        this.data = data;
        this.out = out;
        this.provenance = provenance;
        if (!resume && (Checkpoint.exists(out) || Files.exists(out.resolve(MODEL))))
            throw new Add4jException(out + " already holds a training run: pass --resume to continue it, or choose another --out");
        if (resume && !Checkpoint.exists(out) && !Files.exists(out.resolve(CONFIG)))
            throw new Add4jException(out + ": nothing to resume (no " + Checkpoint.DIR + "/)");
        torch.manual_seed(cfg.seed());
        UNet net = new UNet(cfg.unet());
        ema = new UNet(cfg.unet());
        model = new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr());
        emaUpdate = new Ema(net, ema, cfg.emaDecay());
        net.to(data.device());
        ema.to(data.device());
        params = net.parameterVector();
        AdamWOptions options = new AdamWOptions(cfg.lr());
        options.weight_decay().put(0.0); // [choice] no decay: a small net on a small data set, EMA does the smoothing
        opt = new AdamW(params, options);
        parts = new Checkpoint.Parts(Map.of("net", net, "ema", ema), Map.of("optimizer", opt));
        if (resume) restore();
        if (start == 0) AtomicFiles.writeString(out.resolve(CONFIG), Json.write(cfg));
    }

    public VPredictionModel model() { return model; }
    public UNet ema() { return ema; }
    public long startStep() { return start; }

    /** One optimiser step on a fresh batch; returns loss, learning rate and gradient norm. */
    public Map<String, Double> step(long s) {
        try (var scope = new PointerScope()) {
            CaptionedImages.Batch b = data.batch(cfg.seed(), s, cfg.batch(), cfg.captionDrop());
            Generator g = torch.make_generator_cpu(cfg.seed() * 1_000_003L + s); // noise depends only on (seed, step)
            Tensor eps = torch.randn(Ops.shape(b.x0()), new GeneratorOptional(g)).to(data.device(), torch.ScalarType.Float);
            Tensor t = torch.randint(NoiseSchedule.T, new long[]{cfg.batch()}, new GeneratorOptional(g)).to(data.device(), torch.ScalarType.Long);
            Tensor loss = TeacherLoss.vLoss(model, b.x0(), eps, t, b.cond()).mean();
            double lr = cfg.lrAt(s);
            opt.param_groups().get(0).options().set_lr(lr);
            opt.zero_grad();
            loss.backward();
            double gradNorm = torch.clip_grad_norm_(params, cfg.gradClip()), l = Ops.f(loss);
            // A step with a non-finite loss or gradient is skipped: on the CPU such steps turn up now and then
            // (README, "Notes for developers"), and one of them must not make every weight NaN.
            boolean finite = Double.isFinite(gradNorm) && Double.isFinite(l);
            if (finite) opt.step();
            else opt.zero_grad();
            emaUpdate.update(s);
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("skipped", finite ? 0.0 : 1.0);
            if (finite) {
                stats.put("loss", l);
                stats.put("grad_norm", gradNorm);
            }
            stats.put("lr", lr);
            return stats;
        }
    }

    /** Writes the EMA model, then the checkpoint (which commits the step: a model ahead of it is harmless). */
    public void save(long stepsDone) {
        Map<String, String> prov = new LinkedHashMap<>(provenance);
        prov.put("add4j.steps", Long.toString(stepsDone));
        ModelFile.save(out.resolve(MODEL), ema, "teacher", prov);
        Checkpoint.save(out, TRAINER, stepsDone, cfg, Map.of(), parts);
    }

    /** Continues from the checkpoint, checked whole first; a run stopped before its first one starts again at 0. */
    private void restore() {
        Checkpoint.Saved c = Checkpoint.read(out, TRAINER, parts, cfg.steps());
        if (c == null) {
            System.out.println(out + ": no checkpoint yet (the run stopped before its first): starting at step 0");
        } else {
            TeacherConfig saved = c.config(TeacherConfig.class);
            if (!saved.unet().equals(cfg.unet()))
                throw new Add4jException(c.source() + ": was trained with a different network (" + saved.unet() + ")");
            c.restore(parts, data.device());
            start = c.step();
            Checkpoint.tidy(out);
        }
        int dropped = TrainLoop.truncate(out.resolve(LOG), start);
        if (dropped > 0) System.out.printf("%s: dropped %d records past step %d%n", out.resolve(LOG), dropped, start);
    }

    /** Runs the remaining steps with progress, logging and checkpoints. */
    public long train(double maxMinutes, long checkpointEvery, PrintStream console) {
        var o = new TrainLoop.Options(cfg.steps(), Math.max(1, Math.min(100, cfg.steps() / 20)), checkpointEvery, maxMinutes, out.resolve(LOG));
        return TrainLoop.run(start, o, this::step, this::save, console);
    }

    @Override public void close() { opt.close(); }
}
