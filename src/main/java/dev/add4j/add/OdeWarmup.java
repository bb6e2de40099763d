package dev.add4j.add;

import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.features.Vit;
import dev.add4j.nn.Ops;
import dev.add4j.train.CaptionedImages;
import dev.add4j.train.Optimizers;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The ODE warm-up [choice, not in the paper]: before ADD, the student regresses onto the frozen teacher's
 * deterministic sampler, z → DDIM_k(z | prompt) (knowledge distillation, Luhman &amp; Luhman 2021).
 * <p>Why: our teacher has zero terminal SNR, so its x0 estimate at t = 999 is the prompt's mean image whatever
 * the noise. A student initialised from it starts by ignoring its noise, and ADD alone did not teach it to use
 * it (one image per prompt, recall ~0). The pairs give the 1-step student a noise-dependent start.
 * <p>Each iteration draws s from the student timesteps like ADD does; at 999 the input is the pair's own noise z,
 * below it the teacher's DDIM state x_s on the way from z to the image (or, with {@link AddConfig.Warmup.Inputs#RENOISED},
 * the pair's image noised with fresh noise). The loss is the mean squared error to the pair's image, plus, with a
 * feature weight, a perceptual {@link FeatureDistance} to it in the frozen feature ViT.
 */
public final class OdeWarmup implements AutoCloseable {
    // chunks of one batch each: the noise z [B,1,32,32], the image [B,1,32,32] and, for TRAJECTORY inputs, the DDIM
    // states at the student timesteps [S,B,1,32,32] (states[0] = z)
    private final List<Tensor> noise = new ArrayList<>(), images = new ArrayList<>(), states = new ArrayList<>();
    private final CaptionedImages data;
    private final AddConfig cfg;
    private final Tensor studentTimesteps;
    private final long pairSeed;
    private final Vit features;                   // for the perceptual term (featureWeight > 0), else unused

    /**
     * Makes {@code cfg.warmup().pairs()} pairs (rounded down to whole batches) with the teacher's DDIM sampler,
     * without guidance, on captions drawn like the training batches. Deterministic in the config's seed.
     */
    public OdeWarmup(VPredictionModel teacher, CaptionedImages data, AddConfig cfg, Vit features, PrintStream console) {
        this.data = data;
        this.features = features;
        this.cfg = cfg;
        this.pairSeed = cfg.seed() + 11;
        long[] ts = cfg.studentTimesteps().stream().mapToLong(Integer::longValue).toArray();
        this.studentTimesteps = Ops.fromLongs(ts, ts.length).retainReference();
        int chunks = cfg.warmup().pairs() / cfg.batch();
        List<Integer> ddim = Timesteps.trailing(cfg.warmup().teacherSteps());
        long t0 = System.nanoTime();
        console.printf("ode warm-up: %d pairs with the teacher's %d-step DDIM%n", chunks * cfg.batch(), ddim.size());
        for (int k = 0; k < chunks; k++) {
            try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                TextCond c = cond(k);
                Generator gen = torch.make_generator_cpu(pairSeed * 1_000_003L + k);
                Tensor z = torch.randn(new long[]{cfg.batch(), 1, 32, 32}, new GeneratorOptional(gen)).to(data.device(), torch.ScalarType.Float);
                List<Tensor> kept = new ArrayList<>();
                Tensor x = Samplers.ddim(teacher, teacher.schedule(), ddim, z, c, (t, xt) -> {
                    if (trajectory() && cfg.studentTimesteps().contains(t)) kept.add(xt); // in the student's (descending) order
                });
                noise.add(z.retainReference());
                images.add(x.retainReference());
                if (trajectory()) states.add(torch.stack(new TensorVector(kept.toArray(new Tensor[0]))).retainReference());
            }
            if ((k + 1) % Math.max(1, chunks / 10) == 0 || k + 1 == chunks) {
                double el = (System.nanoTime() - t0) / 1e9;
                console.printf("ode warm-up: pairs %d/%d | eta %s%n", (k + 1) * cfg.batch(), chunks * cfg.batch(),
                        TrainLoop.duration(el / (k + 1) * (chunks - k - 1)));
            }
        }
    }

    /** One regression step of the student on the pairs of chunk {@code step mod chunks}. */
    public Map<String, Double> step(VPredictionModel student, Adam opt, TensorVector params, long step) {
        try (var scope = new PointerScope()) {
            int k = (int) (step % noise.size());
            Tensor z = noise.get(k), x = images.get(k);
            Generator gen = torch.make_generator_cpu(cfg.seed() * 1_000_003L + step);
            long b = z.size(0);
            Tensor j = torch.randint(studentTimesteps.size(0), new long[]{b}, new GeneratorOptional(gen)); // [B] timestep indices
            Tensor s = torch.index_select(studentTimesteps, 0, j).to(z.device(), torch.ScalarType.Long); // [B]
            Tensor xS;
            if (trajectory()) {                                                                       // states[j, i] for sample i at timestep j
                Tensor rows = j.mul(Ops.s(b)).add(torch.arange(new Scalar(b), Ops.longOn(new Device("cpu"))));
                xS = states.get(k).flatten(0, 1).index_select(0, rows.to(z.device(), torch.ScalarType.Long));
            } else {
                Tensor fresh = torch.randn(Ops.shape(z), new GeneratorOptional(gen)).to(z.device(), torch.ScalarType.Float);
                Tensor atNoise = s.eq(Ops.s(cfg.studentTimesteps().get(0))).view(b, 1, 1, 1);
                Tensor eps = torch.where(atNoise, z, fresh);                                          // 999: the pair's own z
                xS = student.schedule().noised(x, eps, s);
            }
            Tensor x0 = student.x0(xS, s, cond(k));
            Tensor pixel = torch.mse_loss(x0, x);
            double w = cfg.warmup().featureWeight();
            if (w == 0) {
                if (!Optimizers.stepIfFinite(opt, pixel, params)) return Map.of("skip_g", 1.0);
                return Map.of("loss_ode", Ops.f(pixel), "skip_g", 0.0);
            }
            Tensor perceptual = FeatureDistance.between(features, features.defaultTaps(), x0, x);
            if (!Optimizers.stepIfFinite(opt, pixel.add(perceptual.mul(Ops.s(w))), params)) return Map.of("skip_g", 1.0);
            return Map.of("loss_ode", Ops.f(pixel), "loss_ode_feat", Ops.f(perceptual), "skip_g", 0.0);
        }
    }

    private boolean trajectory() { return cfg.warmup().inputs() == AddConfig.Warmup.Inputs.TRAJECTORY; }

    /** The captions of chunk k: the same on every call. */
    private TextCond cond(int k) { return data.batch(pairSeed, k, cfg.batch(), 0.0).cond(); }

    @Override public void close() {
        noise.forEach(Tensor::releaseReference);
        images.forEach(Tensor::releaseReference);
        states.forEach(Tensor::releaseReference);
        studentTimesteps.releaseReference();
    }
}
