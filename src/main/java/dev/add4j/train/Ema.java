package dev.add4j.train;

import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * Exponential moving average of a network's weights, kept in a second network of the same shape:
 * ema = decay * ema + (1 - decay) * live, after every optimiser step. The average is what gets shipped.
 */
public final class Ema {
    private final List<Tensor> live, avg;
    private final double decay;

    /** {@code shadow} must have the same structure as {@code model}; it is overwritten with model's weights. */
    public Ema(Module model, Module shadow, double decay) {
        if (decay < 0 || decay >= 1) throw new IllegalArgumentException("ema decay must be in [0,1), got " + decay);
        model.copyTo(shadow);
        shadow.requiresGrad(false);
        this.live = List.copyOf(model.namedParameters().values());
        this.avg = List.copyOf(shadow.namedParameters().values());
        this.decay = decay;
    }

    /** One update; a warm-up (min(decay, (1+n)/(10+n))) keeps early averages from clinging to the random init. */
    public void update(long step) {
        double d = Math.min(decay, (1.0 + step) / (10.0 + step));
        try (var g = new NoGradGuard()) {
            for (int i = 0; i < live.size(); i++) avg.get(i).lerp_(live.get(i), Ops.s(1.0 - d));
        }
    }
}
