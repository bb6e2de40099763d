package dev.add4j.diffusion;

import org.bytedeco.pytorch.Tensor;

/** The diffusion (teacher) training loss: v-prediction MSE at uniformly drawn timesteps. */
public final class TeacherLoss {
    private TeacherLoss() {}

    /**
     * Per-sample loss ||v_theta(x_t, t, c) - v||^2 (mean over pixels) with x_t = alpha_t x0 + sigma_t eps and
     * v = alpha_t eps - sigma_t x0. Shapes: x0, eps [B,C,H,W], t [B] -> [B].
     */
    public static Tensor vLoss(VPredictionModel model, Tensor x0, Tensor eps, Tensor t, TextCond c) {
        NoiseSchedule s = model.schedule();
        Tensor alpha = s.alpha(t, x0), sigma = s.sigma(t, x0);                          // [B,1,1,1]
        Tensor xT = alpha.mul(x0).add(sigma.mul(eps));                                   // [B,C,H,W]
        Tensor target = Prediction.vFromX0Eps(x0, eps, alpha, sigma);
        return model.v(xT, t, c).sub(target).square().mean(new long[]{1, 2, 3}, false, new org.bytedeco.pytorch.ScalarTypeOptional());
    }
}
