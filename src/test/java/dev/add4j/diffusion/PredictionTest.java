package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PredictionTest {
    static final NoiseSchedule S = NoiseSchedule.zeroTerminalSnr();
    /** One sample per timestep: small t (sigma ~ 0.01), middle, and t = 999 where alpha = 0. */
    static final long[] TS = {0, 1, 10, 250, 500, 998, 999};

    @BeforeAll static void init() { TorchRuntime.init(); }

    static double maxDiff(Tensor a, Tensor b) { return Ops.f(a.sub(b).abs().max()); }

    @Test void vToX0AndEpsRoundTripsWithinFloatToleranceAtEveryTimestepIncluding999() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(2);
            int b = TS.length;
            Tensor x0 = torch.randn(b, 1, 8, 8), eps = torch.randn(b, 1, 8, 8);
            Tensor t = Ops.fromLongs(TS, b);
            Tensor alpha = S.alpha(t, x0), sigma = S.sigma(t, x0);                  // [B,1,1,1]
            Tensor xT = S.noised(x0, eps, t);
            Tensor v = Prediction.vFromX0Eps(x0, eps, alpha, sigma);
            assertEquals(0, maxDiff(Prediction.x0FromV(xT, v, alpha, sigma), x0), 1e-5, "x0 from v");
            assertEquals(0, maxDiff(Prediction.epsFromV(xT, v, alpha, sigma), eps), 1e-5, "eps from v");
        }
    }

    @Test void epsFromX0InvertsTheForwardProcessWhereSigmaIsPositive() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            int b = TS.length;
            Tensor x0 = torch.randn(b, 1, 8, 8), eps = torch.randn(b, 1, 8, 8);
            Tensor t = Ops.fromLongs(TS, b);
            Tensor alpha = S.alpha(t, x0), sigma = S.sigma(t, x0);
            Tensor xT = S.noised(x0, eps, t);
            // at t = 0 sigma is 0.01, so float32 rounding of x_t is amplified ~100x: 1e-4 is still tight
            assertEquals(0, maxDiff(Prediction.epsFromX0(xT, x0, alpha, sigma), eps), 1e-4);
        }
    }

    @Test void vPredictionModelGivesTheSameX0ForIntAndPerSampleTimesteps() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(4);
            var net = new dev.add4j.nn.UNet(dev.add4j.nn.UNet.Config.tiny());
            var m = new VPredictionModel(net, S);
            try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
                net.namedParameters().get("conv_out.weight").normal_(0, 0.05, new org.bytedeco.pytorch.GeneratorOptional());
                Tensor x = torch.randn(2, 1, 16, 16);
                TextCond c = Conds.random(2, 3);
                for (int t : new int[]{0, 499, 999}) {
                    Tensor a = m.x0(x, t, c), b = m.x0(x, Ops.fromLongs(new long[]{t, t}, 2), c);
                    assertEquals(0, maxDiff(a, b), 1e-6, "t = " + t);
                }
            }
        }
    }
}
