package dev.add4j.diffusion;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The one denoiser contract (k-diffusion's): an estimate of the clean image x0 for a noisy batch x_t at per-sample
 * integer timesteps t under a text condition. Samplers, guidance and the distillation target all ask only this;
 * teacher, student and guided variants differ only here. Shapes: xT [B,C,H,W], t [B] int64 -> x0 [B,C,H,W].
 */
@FunctionalInterface
public interface Denoiser {
    Tensor x0(Tensor xT, Tensor t, TextCond cond);

    /**
     * One timestep for the whole batch, as samplers step: t filled into a [B] tensor. A model may override it with
     * the same maths on plain numbers; a wrapper must then pass this call on as it is.
     */
    default Tensor x0(Tensor xT, int t, TextCond cond) {
        return x0(xT, torch.full(new long[]{xT.size(0)}, Ops.s(t), Ops.longOn(xT.device())), cond);
    }
}
