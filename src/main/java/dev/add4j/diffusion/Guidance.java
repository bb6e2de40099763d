package dev.add4j.diffusion;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Classifier-free guidance (Ho and Salimans 2022) as a denoiser that wraps another. */
public final class Guidance {
    private Guidance() {}

    /**
     * x0 = x0(∅) + w (x0(c) - x0(∅)), with conditional and unconditional passes in one batch of 2B.
     * Guidance is linear in the prediction, so doing it on x0 equals doing it on v or eps.
     * @param uncond the empty prompt's condition, one sample ([1,...]); w of 0 or 1 means no guidance.
     */
    public static Denoiser classifierFree(Denoiser d, TextCond uncond, double w) {
        if (w == 0.0 || w == 1.0) return d;
        return (xT, t, c) -> {
            long b = xT.size(0);
            Tensor both = d.x0(torch.cat(new TensorVector(xT, xT), 0), t, c.cat(uncond.expandTo(b)));   // [2B,C,H,W]
            Tensor cond = both.narrow(0, 0, b), none = both.narrow(0, b, b);
            return none.add(cond.sub(none).mul(Ops.s(w)));
        };
    }
}
