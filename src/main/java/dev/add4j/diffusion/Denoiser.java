package dev.add4j.diffusion;

import org.bytedeco.pytorch.Tensor;

/**
 * What every sampler needs (k-diffusion's contract): an estimate of the clean image x0 for a noisy batch x_t at
 * one integer timestep t under a text condition. Teacher, student and guided variants differ only here.
 * Shapes: xT [B,C,H,W] -> x0 [B,C,H,W].
 */
@FunctionalInterface
public interface Denoiser {
    Tensor x0(Tensor xT, int t, TextCond cond);
}
