package dev.add4j.train;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.dist.GradientReducer;
import dev.add4j.dist.Group;
import dev.add4j.dist.Shard;
import dev.add4j.diffusion.TeacherLoss;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Trains the text-conditional teacher: the network, its EMA and the optimiser, as one stage of the {@link TrainLoop}.
 * Run directory ({@link RunDir}): {@code config.json}, {@code checkpoint/}, {@code train-log.jsonl}, and the shipped
 * EMA weights {@code teacher.safetensors}.
 */
public final class TeacherTrainer implements AutoCloseable {
    public static final String LOG = "train-log.jsonl", MODEL = "teacher.safetensors", CONFIG = RunDir.CONFIG;
    static final String TRAINER = "teacher";                  // the checkpoint's trainer

    private final TeacherConfig cfg;
    private final CaptionedImages data;
    private final Path out;
    private final VPredictionModel model;
    private final VPredictionModel ema;
    private final AdamW opt;
    private final TensorVector params;
    private final GradientReducer reducer;
    private final TrainLoop loop;

    /**
     * Sets up a run in {@code out}. With {@code resume}, continues from out's checkpoint (the network must match);
     * without it, refuses a directory that already holds a checkpoint or a model, so nothing saved is overwritten.
     */
    public TeacherTrainer(TeacherConfig cfg, CaptionedImages data, Path out, boolean resume, Map<String, String> provenance) {
        if (cfg.batch() % Group.current().size() != 0)
            throw new Add4jException("--batch " + cfg.batch() + " does not split over " + Group.current().size() + " ranks: make it a multiple of " + Group.current().size());
        this.cfg = cfg;
        this.data = data;
        this.out = out;
        UNet net;
        synchronized (TorchRuntime.GLOBAL_GENERATOR) {           // seeded draws, no other thread's in between (ranks as threads)
            torch.manual_seed(cfg.seed());
            net = new UNet(cfg.unet());
            ema = new VPredictionModel(new UNet(cfg.unet()), NoiseSchedule.zeroTerminalSnr(), cfg.imageSize());
        }
        model = new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr(), cfg.imageSize());
        ModelFile.requireSameShape(model, "the network", data.channels(), data.imageSize(), "the data");
        Ema emaUpdate = new Ema(net, ema.net(), cfg.emaDecay());
        net.to(data.device());
        ema.net().to(data.device());
        params = net.parameterVector();
        reducer = GradientReducer.of(Group.current(), params);   // on several ranks, all-reduces during backward
        AdamWOptions options = new AdamWOptions(cfg.lr());
        options.weight_decay().put(0.0); // [choice] no decay: a small net on a small data set, EMA does the smoothing
        opt = new AdamW(params, options);
        var parts = new Checkpoint.Parts(Map.of("net", net, "ema", ema.net()), Map.of("optimizer", opt));
        var spec = new RunDir.Spec(out, TRAINER, "a training run", cfg, cfg.steps(), parts, data.device(), List.of(LOG), MODEL);
        RunDir dir = RunDir.open(spec, resume, false, c -> {
            TeacherConfig saved = c.config(TeacherConfig.class);
            if (!saved.unet().equals(cfg.unet()))
                throw new Add4jException(c.source() + ": was trained with a different network (" + saved.unet() + ")");
            if (saved.imageSize() != cfg.imageSize())
                throw new Add4jException(c.source() + ": was trained on " + saved.imageSize() + " px images, the data is " + cfg.imageSize() + " px");
        }, done -> {
            Map<String, String> prov = new LinkedHashMap<>(provenance);
            prov.put("add4j.steps", Long.toString(done));
            ModelFile.save(out.resolve(MODEL), ema, "teacher", prov);
        });
        loop = new TrainLoop(List.of(Stage.of(TRAINER, cfg.steps(), this::teacherStep))).saving(dir).ema(emaUpdate);
    }

    public VPredictionModel model() { return model; }
    public UNet ema() { return ema.net(); }
    public long startStep() { return loop.start(); }
    /** The run's loop: its steps, saves and options. */
    public TrainLoop loop() { return loop; }

    /** Step {@code s} as the run takes it: an optimiser step on a fresh batch, then the EMA update. */
    public Map<String, Double> step(long s) { return loop.step(s); }

    /** Saves the run after {@code done} steps: the EMA model, then the checkpoint. */
    public void save(long done) { loop.save(done); }

    /** One optimiser step on a fresh batch; returns loss, learning rate and gradient norm. */
    private Map<String, Double> teacherStep(long s) {
        try (var scope = new PointerScope()) {
            Shard shard = Shard.current();                       // this rank's rows of the global batch and its noise
            CaptionedImages.Batch b = data.batch(cfg.seed(), s, cfg.batch(), cfg.captionDrop()).rows(shard);
            Generator g = torch.make_generator_cpu(cfg.seed() * 1_000_003L + s); // noise depends only on (seed, step)
            Tensor eps = shard.randn(g, Ops.shape(b.x0())).to(data.device(), torch.ScalarType.Float);
            Tensor t = shard.randint(NoiseSchedule.T, new long[]{b.x0().size(0)}, g).to(data.device(), torch.ScalarType.Long);
            Tensor loss = TeacherLoss.vLoss(model, b.x0(), eps, t, b.cond()).mean();
            double lr = cfg.lrAt(s);
            opt.param_groups().get(0).options().set_lr(lr);
            // A step with a non-finite loss or gradient is skipped: on the CPU such steps turn up now and then
            // (README, "Notes for developers"), and one of them must not make every weight NaN.
            double gradNorm = Optimizers.stepIfFinite(opt, loss, params, cfg.gradClip(), reducer);
            boolean finite = !Double.isNaN(gradNorm);
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("skipped", finite ? 0.0 : 1.0);
            if (finite) {
                stats.put("loss", Ops.f(loss));
                stats.put("grad_norm", gradNorm);
            }
            stats.put("lr", lr);
            return stats;
        }
    }

    /** Runs the remaining steps with progress, logging and checkpoints; returns the steps done. */
    public long train(double maxMinutes, long checkpointEvery, int maxRestarts, PrintStream console) {
        long logEvery = Math.max(1, Math.min(100, cfg.steps() / 20));
        return loop.console(console::println).run(new TrainLoop.Options(logEvery, checkpointEvery, maxMinutes, maxRestarts, out.resolve(LOG)));
    }

    @Override public void close() {
        reducer.close();
        opt.close();
    }
}
