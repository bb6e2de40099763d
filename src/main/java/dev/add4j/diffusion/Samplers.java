package dev.add4j.diffusion;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;

import java.util.List;
import java.util.function.BiConsumer;

/**
 * Samplers as stateless functions (k-diffusion's shape): each takes a denoiser, the schedule, timesteps from high
 * to low (e.g. {@link Timesteps#trailing}), the starting noise x_T and the condition, and returns the image.
 * Every step asks the denoiser for x0 and derives eps = (x_t - alpha_t x0) / sigma_t, so all three samplers work
 * at t = 999 where alpha = 0 (zero terminal SNR).
 */
public final class Samplers {
    private Samplers() {}

    /** Which sampler; ADD is the student's own (add-method.md §7). */
    public enum Kind {
        DDIM("ddim"), EULER_ANCESTRAL("euler-a"), ADD("add");

        private final String cliName;

        Kind(String cliName) { this.cliName = cliName; }

        /** The command-line name: "ddim", "euler-a" or "add". */
        public String cliName() { return cliName; }

        /** Parses a command-line name; anything else is one clear error line. */
        public static Kind parse(String name) {
            for (Kind k : values()) if (k.cliName.equals(name)) return k;
            throw new Add4jException("--sampler: expected ddim, euler-a or add, got '" + name + "'");
        }
    }

    /** Runs the sampler {@code kind}; {@code noise} is used by the stochastic ones. */
    public static Tensor sample(Kind kind, Denoiser d, NoiseSchedule s, List<Integer> ts, Tensor xT, TextCond c, Noise noise) {
        return switch (kind) {
            case DDIM -> ddim(d, s, ts, xT, c);
            case EULER_ANCESTRAL -> eulerAncestral(d, s, ts, xT, c, noise);
            case ADD -> addRenoise(d, s, ts, xT, c, noise);
        };
    }

    /** DDIM with eta = 0 (Song et al. 2021, eq. 12): x_prev = alpha_prev x0 + sigma_prev eps. */
    public static Tensor ddim(Denoiser d, NoiseSchedule s, List<Integer> ts, Tensor xT, TextCond c) {
        return ddim(d, s, ts, xT, c, (t, xt) -> {});
    }

    /**
     * DDIM as above, showing each state x_t of the trajectory to {@code visit} before it is denoised (x_T first):
     * the ODE warm-up keeps the states at the student's timesteps. A state lives in the caller's PointerScope.
     */
    public static Tensor ddim(Denoiser d, NoiseSchedule s, List<Integer> ts, Tensor xT, TextCond c, BiConsumer<Integer, Tensor> visit) {
        Tensor x = xT;
        for (int i = 0; i < ts.size(); i++) {
            int t = ts.get(i), prev = i + 1 < ts.size() ? ts.get(i + 1) : -1;   // -1: the clean image
            visit.accept(t, x);
            Tensor xt = x;
            x = Ops.inScope(() -> {                                             // one scope a step: flat memory
                Tensor x0 = d.x0(xt, t, c);
                Tensor eps = xt.sub(x0.mul(Ops.s(s.alpha(t)))).div(Ops.s(s.sigma(t)));
                return x0.mul(Ops.s(s.alpha(prev))).add(eps.mul(Ops.s(s.sigma(prev))));
            });
        }
        return x;
    }

    /**
     * Euler-ancestral (k-diffusion's sample_euler_ancestral, eta = 1) in the variance-exploding view
     * x/alpha = x0 + sigmaVe eps with sigmaVe = sigma/alpha. One step: sigmaUp = sqrt(to^2 (from^2 - to^2) / from^2),
     * sigmaDown = sqrt(to^2 - up^2); x_to/alpha_to = x0 + sigmaDown eps + sigmaUp z. At t = 999 (from = infinity)
     * this is sigmaDown = 0, sigmaUp = to: a plain re-noising of x0.
     */
    public static Tensor eulerAncestral(Denoiser d, NoiseSchedule s, List<Integer> ts, Tensor xT, TextCond c, Noise noise) {
        Tensor x = xT;
        for (int i = 0; i < ts.size(); i++) {
            int t = ts.get(i);
            if (i + 1 == ts.size()) return d.x0(x, t, c);
            int to = ts.get(i + 1);
            double sFrom = veSigma(s, t), sTo = veSigma(s, to);
            double up = Double.isInfinite(sFrom) ? sTo : Math.sqrt(sTo * sTo * (sFrom * sFrom - sTo * sTo) / (sFrom * sFrom));
            double down = Math.sqrt(Math.max(sTo * sTo - up * up, 0.0));
            Tensor xt = x;
            x = Ops.inScope(() -> {
                Tensor x0 = d.x0(xt, t, c);
                Tensor eps = xt.sub(x0.mul(Ops.s(s.alpha(t)))).div(Ops.s(s.sigma(t)));
                return x0.add(eps.mul(Ops.s(down))).add(noise.like(x0).mul(Ops.s(up))).mul(Ops.s(s.alpha(to)));
            });
        }
        return x;
    }

    /**
     * ADD's few-step sampling (add-method.md §7): x0 = D(x_t, t), then re-noise to the next timestep with fresh
     * noise, x_t' = alpha_t' x0 + sigma_t' z; the last x0 is the image.
     */
    public static Tensor addRenoise(Denoiser d, NoiseSchedule s, List<Integer> ts, Tensor xT, TextCond c, Noise noise) {
        Tensor x = xT;
        for (int i = 0; i < ts.size(); i++) {
            Tensor xt = x;
            int t = ts.get(i);
            if (i + 1 == ts.size()) return d.x0(xt, t, c);
            int next = ts.get(i + 1);
            x = Ops.inScope(() -> {
                Tensor x0 = d.x0(xt, t, c);
                return s.noised(x0, noise.like(x0), next);
            });
        }
        return x;
    }

    private static double veSigma(NoiseSchedule s, int t) {
        double a = s.alpha(t);
        return a == 0.0 ? Double.POSITIVE_INFINITY : s.sigma(t) / a;
    }
}
