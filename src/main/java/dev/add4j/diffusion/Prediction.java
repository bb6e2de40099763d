package dev.add4j.diffusion;

import org.bytedeco.pytorch.Tensor;

/**
 * Conversions between the three ways to state what a denoiser predicts, for x_t = alpha x0 + sigma eps
 * (alpha^2 + sigma^2 = 1): v = alpha eps - sigma x0 (Salimans and Ho 2022), so x0 = alpha x_t - sigma v and
 * eps = sigma x_t + alpha v. v-prediction stays defined at alpha = 0 (pure noise), where eps-prediction cannot
 * give x0. alpha and sigma are tensors that broadcast ([B,1,1,1]) or plain numbers wrapped by the caller.
 */
public final class Prediction {
    private Prediction() {}

    /** x0 = alpha x_t - sigma v. */
    public static Tensor x0FromV(Tensor xT, Tensor v, Tensor alpha, Tensor sigma) { return alpha.mul(xT).sub(sigma.mul(v)); }

    /** eps = sigma x_t + alpha v. */
    public static Tensor epsFromV(Tensor xT, Tensor v, Tensor alpha, Tensor sigma) { return sigma.mul(xT).add(alpha.mul(v)); }

    /** v = alpha eps - sigma x0: the training target. */
    public static Tensor vFromX0Eps(Tensor x0, Tensor eps, Tensor alpha, Tensor sigma) { return alpha.mul(eps).sub(sigma.mul(x0)); }

    /** eps = (x_t - alpha x0) / sigma; needs sigma > 0, which holds for every t >= 0 of the schedule. */
    public static Tensor epsFromX0(Tensor xT, Tensor x0, Tensor alpha, Tensor sigma) { return xT.sub(alpha.mul(x0)).div(sigma); }
}
