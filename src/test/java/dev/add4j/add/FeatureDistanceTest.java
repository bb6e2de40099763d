package dev.add4j.add;

import dev.add4j.TorchRuntime;
import dev.add4j.features.Vit;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class FeatureDistanceTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static Vit frozenVit() {
        torch.manual_seed(3);
        Vit vit = new Vit(Vit.Config.tiny());
        vit.train(false).requiresGrad(false);
        return vit;
    }

    static Tensor images(long seed) {
        Generator g = torch.make_generator_cpu(seed);
        return torch.rand(new long[]{4, 1, 32, 32}, new GeneratorOptional(g)).mul(Ops.s(2)).sub(Ops.s(1));
    }

    @Test void isZeroOnEqualImagesAndTwoMinusTwiceTheTokensCosineSimilarityElsewhere() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = frozenVit();
            List<Integer> taps = vit.defaultTaps();
            Tensor x = images(1), y = images(2);
            assertEquals(0.0, Ops.f(FeatureDistance.between(vit, taps, x, x)), 1e-6);
            // for unit vectors |u - v|^2 = 2 - 2 cos(u, v): an independent way to the same number
            List<Tensor> fx = vit.features(x, taps), fy = vit.features(y, taps);
            double expected = 0;
            for (int i = 0; i < taps.size(); i++)
                expected += Ops.f(torch.cosine_similarity(fx.get(i), fy.get(i), -1, 1e-8).mul(Ops.s(-2)).add(Ops.s(2)).mean());
            double d = Ops.f(FeatureDistance.between(vit, taps, x, y));
            assertTrue(d > 0.01, "different images are apart: " + d);
            assertEquals(expected, d, 1e-4 * expected);
        }
    }

    @Test void itsGradientMovesTheImageTowardsTheTargetAndLeavesTheFrozenVitAlone() {
        try (var scope = new PointerScope()) {
            Vit vit = frozenVit();
            List<Integer> taps = vit.defaultTaps();
            Tensor target = images(5), x = images(6).requires_grad_(true);
            double before = Ops.f(FeatureDistance.between(vit, taps, x, target));
            for (int i = 0; i < 20; i++) {
                try (var step = new PointerScope()) {
                    Tensor d = FeatureDistance.between(vit, taps, x, target);
                    d.backward();
                    try (var g = new NoGradGuard()) { x.sub_(x.grad().mul(Ops.s(2.0))); }
                    x.grad().zero_();
                }
            }
            double after = Ops.f(FeatureDistance.between(vit, taps, x, target));
            assertTrue(after < 0.8 * before, "descending it brings x closer in features: " + before + " -> " + after);
            for (Tensor p : vit.parameterVector().get()) assertFalse(p.grad().defined(), "no gradient reaches the frozen ViT");
        }
    }
}
