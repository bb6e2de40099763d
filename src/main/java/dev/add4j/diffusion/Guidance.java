package dev.add4j.diffusion;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Classifier-free guidance (Ho and Salimans 2022), the one place of it: sampling wraps a model in
 * {@link #classifierFree}, the distillation target does the same, and NFSD reads both passes through {@link #both}.
 */
public final class Guidance {
    private Guidance() {}

    /**
     * A denoiser's x0 with the condition and with the empty prompt, from one pass over a batch of 2B.
     * Shapes: each [B,C,H,W].
     */
    public record Pair(Tensor cond, Tensor uncond) {
        /**
         * x0 = x0(∅) + w (x0(c) - x0(∅)). Guidance is linear in the prediction, so doing it on x0 equals doing it
         * on v or eps.
         */
        public Tensor guided(double w) { return uncond.add(cond.sub(uncond).mul(Ops.s(w))); }
    }

    /**
     * {@code d} guided at scale {@code w}; w of 0 or 1 means no guidance and returns {@code d} itself.
     * @param uncond the empty prompt's condition, one sample ([1,...])
     */
    public static Denoiser classifierFree(Denoiser d, TextCond uncond, double w) {
        if (w == 0.0 || w == 1.0) return d;
        return new Denoiser() {
            @Override public Tensor x0(Tensor xT, Tensor t, TextCond c) { return both(d, uncond, xT, t, c).guided(w); }

            // d's own one-timestep path, so that a sampler's numbers are those of the unguided model's
            @Override public Tensor x0(Tensor xT, int t, TextCond c) {
                return split(d.x0(twice(xT), t, withUncond(c, uncond, xT.size(0))), xT.size(0)).guided(w);
            }
        };
    }

    /** Both passes of {@code d} at per-sample timesteps t [B]: conditional first, then the empty prompt. */
    public static Pair both(Denoiser d, TextCond uncond, Tensor xT, Tensor t, TextCond c) {
        return split(d.x0(twice(xT), twice(t), withUncond(c, uncond, xT.size(0))), xT.size(0));
    }

    private static Tensor twice(Tensor x) { return torch.cat(new TensorVector(x, x), 0); }

    private static TextCond withUncond(TextCond c, TextCond uncond, long b) { return c.cat(uncond.expandTo(b)); }

    private static Pair split(Tensor both, long b) { return new Pair(both.narrow(0, 0, b), both.narrow(0, b, b)); }
}
