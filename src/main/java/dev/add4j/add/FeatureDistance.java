package dev.add4j.add;

import dev.add4j.features.Vit;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.List;

/**
 * A perceptual distance in the frozen feature ViT, in the manner of LPIPS (Zhang et al. 2018) without its learned
 * weights: at each tap, every token's feature vector is scaled to unit length, and the distance is the squared
 * difference, summed over channels, averaged over tokens and images, summed over taps.
 * <p>Why: regressing a capacity-limited student onto sharp targets with a pixel L2 loss rewards the blurry average
 * of what it cannot resolve; consistency models measured LPIPS well ahead of L2 for sample quality (Song et al.
 * 2023). Not in the ADD paper: an option of the ODE warm-up ({@code --ode-feature-weight}).
 */
public final class FeatureDistance {
    private FeatureDistance() {}

    /**
     * The distance between {@code x} and {@code target}, differentiable in {@code x} (the ViT's own weights are not
     * updated: the caller's optimiser does not hold them).
     * @param vit    the frozen feature network
     * @param taps   the taps compared, e.g. {@link Vit#defaultTaps()}
     * @param x      images [B,C,S,S] in [-1,1]
     * @param target images of the same shape, treated as constants
     * @return a scalar, 0 when x equals target
     */
    public static Tensor between(Vit vit, List<Integer> taps, Tensor x, Tensor target) {
        List<Tensor> fx = vit.features(x, taps), ft;
        try (var g = new NoGradGuard()) {
            ft = vit.features(target, taps);
        }
        Tensor sum = null;
        for (int i = 0; i < taps.size(); i++) {
            Tensor d = unit(fx.get(i)).sub(unit(ft.get(i))).square().sum(new long[]{-1}, false, new ScalarTypeOptional()).mean(); // [B,T,C] -> []
            sum = sum == null ? d : sum.add(d);
        }
        return sum;
    }

    private static Tensor unit(Tensor f) { // [B,T,C] scaled to unit length over C
        return f.div(f.square().sum(new long[]{-1}, true, new ScalarTypeOptional()).add(Ops.s(1e-10)).sqrt());
    }
}
