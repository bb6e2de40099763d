package dev.add4j.train;

import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.nn.UNet;

/**
 * Hyper-parameters of a teacher training run; written to the run's config.json and into every checkpoint.
 * @param steps        optimiser steps
 * @param batch        images per step
 * @param lr           peak AdamW learning rate, reached after {@code warmup} steps, then cosine decay to lr/10 [choice]
 * @param warmup       linear warm-up steps
 * @param emaDecay     EMA decay of the shipped weights [choice: 0.9995, a half-life of ~1400 steps]
 * @param captionDrop  probability of training on the empty prompt, for classifier-free guidance (10 %)
 * @param gradClip     global gradient-norm clip
 * @param seed         seed of initialisation, batches and noise
 * @param unet         the network's architecture (its imageChannels: the data's channels)
 * @param imageSize    side of the images in pixels, the data's; 0 (a config.json of before issue 20) reads as 32
 */
public record TeacherConfig(long steps, int batch, double lr, long warmup, double emaDecay, double captionDrop,
                            double gradClip, long seed, UNet.Config unet, int imageSize) {
    public TeacherConfig {
        if (imageSize == 0) imageSize = VPredictionModel.DEFAULT_IMAGE_SIZE;
        if (unet != null) VPredictionModel.checkImageSize(unet, imageSize);
        if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
        if (captionDrop < 0 || captionDrop > 1) throw new IllegalArgumentException("captionDrop must be in [0,1], got " + captionDrop);
    }

    /** Learning rate at a step: linear warm-up, then cosine from lr to lr/10. */
    public double lrAt(long step) {
        if (step < warmup) return lr * (step + 1) / warmup;
        double p = (double) (step - warmup) / Math.max(1, steps - warmup);
        return lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, p))));
    }
}
