package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class GuidanceTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A denoiser whose answer is x_t plus the mean of the pooled text vector, per sample. */
    static final Denoiser BY_TEXT = (xT, t, c) ->
            xT.add(Ops.perSample(c.pooled().mean(new long[]{1}, false, new ScalarTypeOptional())));

    @Test void guidanceScaleOneOrZeroReturnsTheWrappedDenoiserUnchanged() {
        try (var scope = new PointerScope()) {
            TextCond empty = Conds.random(1, 0);
            assertSame(BY_TEXT, Guidance.classifierFree(BY_TEXT, empty, 1.0));
            assertSame(BY_TEXT, Guidance.classifierFree(BY_TEXT, empty, 0.0));
        }
    }

    @Test void guidanceExtrapolatesFromTheUnconditionalToTheConditionalAnswer() {
        // x0 = x0(empty) + w (x0(c) - x0(empty)), per sample
        try (var scope = new PointerScope()) {
            TextCond empty = Conds.random(1, 0), c = Conds.random(3, 1);
            Tensor x = torch.randn(3, 1, 4, 4);
            double w = 3.0;
            Tensor got = Guidance.classifierFree(BY_TEXT, empty, w).x0(x, 500, c);
            Tensor cond = BY_TEXT.x0(x, 500, c), none = BY_TEXT.x0(x, 500, empty.expandTo(3));
            Tensor want = none.add(cond.sub(none).mul(Ops.s(w)));
            assertArrayEquals(new long[]{3, 1, 4, 4}, Ops.shape(got));
            assertEquals(0, Ops.f(got.sub(want).abs().max()), 1e-5);
        }
    }

    @Test void perSampleTimestepsGiveTheSameGuidanceAsOneTimestep() {
        // the distillation target's path (t [B]) and the samplers' (one int t) are one guidance
        try (var scope = new PointerScope()) {
            TextCond empty = Conds.random(1, 0), c = Conds.random(3, 1);
            Tensor x = torch.randn(3, 1, 4, 4), t = Ops.fromLongs(new long[]{500, 500, 500}, 3);
            Denoiser guided = Guidance.classifierFree(BY_TEXT, empty, 2.5);
            assertTrue(torch.equal(guided.x0(x, 500, c), guided.x0(x, t, c)));
            assertTrue(torch.equal(guided.x0(x, t, c), Guidance.both(BY_TEXT, empty, x, t, c).guided(2.5)));
        }
    }
}
