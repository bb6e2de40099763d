package dev.add4j.add;

import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.Guidance;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Prediction;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The frozen teacher's side of score distillation (add-method.md §4.5): re-noise the student's output with fresh
 * noise at t ~ U[tMin, tMax], x̂_θ,t = α_t x̂_θ + σ_t ε', and let the teacher denoise it. The teacher always sees
 * the re-noised student output, never the noised real image. Everything here is under no-grad: the target is
 * sg(x̂_ψ).
 */
public final class TeacherTarget {
    /** NFSD's threshold: below it δ_D = ε(x_t; ∅), above it δ_D = 0 (no negative prompt) [choice]. */
    public static final int NFSD_SMALL_T = 200;

    /**
     * The distillation target of one batch.
     * @param x0Target sg(x̂_ψ) [B,C,H,W]
     * @param t        the re-noising timesteps [B]
     * @param cT       c(t) per sample [B,1,1,1]
     */
    public record Target(Tensor x0Target, Tensor t, Tensor cT) {}

    private final Denoiser teacher, guided;
    private final NoiseSchedule schedule;
    private final TextCond empty;
    private final AddConfig cfg;

    /** @param empty the empty prompt's condition, one sample: the teacher's unconditional input */
    public TeacherTarget(VPredictionModel teacher, TextCond empty, AddConfig cfg) {
        this(teacher, teacher.schedule(), empty, cfg);
    }

    /** A target from any denoiser (tests use toy teachers with known answers). */
    public TeacherTarget(Denoiser teacher, NoiseSchedule schedule, TextCond empty, AddConfig cfg) {
        this.teacher = teacher;
        this.guided = Guidance.classifierFree(teacher, empty, cfg.paper().teacherGuidance());
        this.schedule = schedule;
        this.empty = empty;
        this.cfg = cfg;
    }

    /** Draws t and ε' from {@code gen} and returns the teacher's target for the student's output {@code x0Hat}. */
    public Target of(Tensor x0Hat, TextCond c, Generator gen) {
        try (var g = new NoGradGuard()) {
            long b = x0Hat.size(0);
            Tensor t = Shard.current().randint(cfg.paper().tMin(), cfg.paper().tMax() + 1L, new long[]{b}, gen)
                    .to(x0Hat.device(), torch.ScalarType.Long);                                       // [B]
            Tensor epsPrime = Shard.current().randn(gen, Ops.shape(x0Hat)).to(x0Hat.device(), torch.ScalarType.Float);
            Tensor x0 = x0Hat.detach();                                                                // sg(x̂_θ)
            Tensor alpha = schedule.alpha(t, x0), sigma = schedule.sigma(t, x0);  // [B,1,1,1]
            Tensor xT = alpha.mul(x0).add(sigma.mul(epsPrime));                                       // x̂_θ,t
            Tensor target = cfg.paper().weighting() == DistillWeighting.NFSD
                    ? nfsd(x0, xT, t, alpha, sigma, c)
                    : teacherX0(xT, t, c);
            return new Target(target, t, cfg.paper().weighting().c(alpha, sigma));
        }
    }

    /**
     * The teacher's x0 estimate after {@code cfg.paper().teacherSteps()} consecutive DDIM steps from x_t (Table 1f),
     * at t, t·(k-1)/k, ..., t/k, each with classifier-free guidance when asked.
     */
    Tensor teacherX0(Tensor xT, Tensor t, TextCond c) {
        int k = cfg.paper().teacherSteps();
        NoiseSchedule s = schedule;
        Tensor x = xT, x0 = null;
        for (int i = 0; i < k; i++) {
            Tensor ti = t.mul(Ops.s(k - i)).floor_divide(Ops.s(k));                                   // [B]
            x0 = guided.x0(x, ti, c);                                                                  // [B,C,H,W]
            if (i + 1 < k) {
                Tensor next = t.mul(Ops.s(k - i - 1)).floor_divide(Ops.s(k));                         // [B]
                Tensor eps = Prediction.epsFromX0(x, x0, s.alpha(ti, x), s.sigma(ti, x));
                x = s.alpha(next, x).mul(x0).add(s.sigma(next, x).mul(eps));                          // DDIM, eta 0
            }
        }
        return x0;
    }

    /**
     * NFSD's target: x̂_θ − (σ_t/α_t)(δ_D + s·δ_C), so that with SDS's c(t) the loss gradient is w(t)(δ_D + s·δ_C)
     * in place of SDS's w(t)(ε̂_ψ − ε'). δ_C = ε(x_t; c) − ε(x_t; ∅); δ_D = ε(x_t; ∅) for t < 200, else 0.
     */
    Tensor nfsd(Tensor x0Hat, Tensor xT, Tensor t, Tensor alpha, Tensor sigma, TextCond c) {
        Guidance.Pair both = Guidance.both(teacher, empty, xT, t, c);                                 // [B,C,H,W] each
        Tensor epsCond = Prediction.epsFromX0(xT, both.cond(), alpha, sigma);
        Tensor epsUncond = Prediction.epsFromX0(xT, both.uncond(), alpha, sigma);
        Tensor deltaC = epsCond.sub(epsUncond);
        Tensor small = Ops.perSample(t.lt(Ops.s(NFSD_SMALL_T)).to(torch.ScalarType.Float));           // [B,1,1,1]
        Tensor deltaD = epsUncond.mul(small);
        Tensor direction = deltaD.add(deltaC.mul(Ops.s(cfg.paper().nfsdScale())));
        return x0Hat.sub(sigma.div(alpha).mul(direction));
    }
}
