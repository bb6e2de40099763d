package dev.add4j.diffusion;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * The discrete 1000-step variance-preserving noise schedule: x_t = alpha_t x0 + sigma_t eps with
 * alpha_t = sqrt(alphaBar_t), sigma_t = sqrt(1 - alphaBar_t). Linear betas (DDPM, 1e-4 to 0.02) rescaled to zero
 * terminal SNR (Lin et al. 2023, Algorithm 1), so that alphaBar at t = 999 is exactly 0 and the last timestep is
 * pure noise, as ADD requires (add-method.md §3). Computed in float64 with libtorch, kept as plain doubles.
 */
public final class NoiseSchedule {
    /** Number of discrete timesteps. */
    public static final int T = 1000;

    private final double[] alphaBar;

    private NoiseSchedule(double[] alphaBar) { this.alphaBar = alphaBar; }

    /** The schedule add4j uses: linear betas 1e-4..0.02, rescaled to zero terminal SNR. [choice: DDPM's betas suit 32 px] */
    public static NoiseSchedule zeroTerminalSnr() { return zeroTerminalSnr(1e-4, 0.02); }

    /** Linear betas from {@code betaStart} to {@code betaEnd}, rescaled to zero terminal SNR. */
    public static NoiseSchedule zeroTerminalSnr(double betaStart, double betaEnd) {
        TensorOptions f64 = new TensorOptions(torch.ScalarType.Double);
        Tensor betas = torch.linspace(Ops.s(betaStart), Ops.s(betaEnd), T, f64);              // [T]
        Tensor sqrtAb = torch.cumprod(torch.ones_like(betas).sub(betas), 0).sqrt();          // [T]
        // Lin et al. Algorithm 1: shift so the last value is 0, scale so the first is unchanged
        double first = Ops.f(sqrtAb.get(0)), last = Ops.f(sqrtAb.get(T - 1));
        Tensor rescaled = sqrtAb.sub(Ops.s(last)).mul(Ops.s(first / (first - last)));
        Tensor ab = rescaled.square().contiguous();
        double[] out = new double[T];
        new org.bytedeco.javacpp.DoublePointer(ab.data_ptr()).capacity(T).get(out);
        out[T - 1] = 0.0; // exactly, not 1e-17
        return new NoiseSchedule(out);
    }

    /** alphaBar_t; t = -1 stands for the clean image (alphaBar = 1). */
    public double alphaBar(int t) { return t < 0 ? 1.0 : alphaBar[t]; }

    /** alpha_t = sqrt(alphaBar_t): the signal scale. */
    public double alpha(int t) { return Math.sqrt(alphaBar(t)); }

    /** sigma_t = sqrt(1 - alphaBar_t): the noise scale. */
    public double sigma(int t) { return Math.sqrt(1.0 - alphaBar(t)); }

    /** Per-sample alpha_t as a [B,1,1,1] float tensor on {@code like}'s device, for timesteps {@code t} [B]. */
    public Tensor alpha(Tensor t, Tensor like) { return table(t, like, false); }

    /** Per-sample sigma_t as a [B,1,1,1] float tensor on {@code like}'s device. */
    public Tensor sigma(Tensor t, Tensor like) { return table(t, like, true); }

    private Tensor table(Tensor t, Tensor like, boolean sigma) {
        float[] vals = new float[T];
        for (int i = 0; i < T; i++) vals[i] = (float) (sigma ? sigma(i) : alpha(i));
        Tensor tab = Ops.fromFloats(vals, T).to(like.device(), torch.ScalarType.Float);
        return Ops.perSample(torch.index_select(tab, 0, t.to(like.device(), torch.ScalarType.Long)));
    }

    /** The forward process: x_t = alpha_t x0 + sigma_t eps, per sample. x0, eps [B,C,H,W], t [B]. */
    public Tensor noised(Tensor x0, Tensor eps, Tensor t) {
        return alpha(t, x0).mul(x0).add(sigma(t, x0).mul(eps));
    }

    /** The forward process at one timestep for the whole batch. */
    public Tensor noised(Tensor x0, Tensor eps, int t) {
        return x0.mul(Ops.s(alpha(t))).add(eps.mul(Ops.s(sigma(t))));
    }
}
