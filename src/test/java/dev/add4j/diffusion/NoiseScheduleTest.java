package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class NoiseScheduleTest {
    static final NoiseSchedule S = NoiseSchedule.zeroTerminalSnr();

    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void zeroTerminalSnrMakesAlphaBarAt999ExactlyZero() {
        assertEquals(0.0, S.alphaBar(999));   // exactly: the last timestep is pure noise
        assertEquals(0.0, S.alpha(999));
        assertEquals(1.0, S.sigma(999));
        assertTrue(S.alphaBar(998) > 0, "only the last timestep has zero signal");
    }

    @Test void rescalingKeepsTheFirstAlphaBarOfTheLinearSchedule() {
        assertEquals(1 - 1e-4, S.alphaBar(0), 1e-12); // Lin et al. Algorithm 1 leaves sqrt(alphaBar_0) unchanged
    }

    @Test void alphaBarDecreasesStrictlyFromTheCleanImageToPureNoise() {
        assertEquals(1.0, S.alphaBar(-1));            // t = -1 is the clean image
        for (int t = 0; t < NoiseSchedule.T; t++)
            assertTrue(S.alphaBar(t) < S.alphaBar(t - 1), "alphaBar(" + t + ") = " + S.alphaBar(t) + " >= alphaBar(" + (t - 1) + ")");
    }

    @Test void alphaSquaredPlusSigmaSquaredIsOneAtEveryTimestep() {
        for (int t = -1; t < NoiseSchedule.T; t++) {
            double a = S.alpha(t), s = S.sigma(t);
            assertEquals(1.0, a * a + s * s, 1e-12, "t = " + t);
        }
    }

    @Test void perSampleTablesMatchTheScalarScheduleAndBroadcastOverImages() {
        try (var scope = new PointerScope()) {
            int[] ts = {0, 1, 250, 998, 999};
            Tensor like = torch.zeros(ts.length, 1, 4, 4);
            Tensor t = Ops.fromLongs(new long[]{0, 1, 250, 998, 999}, ts.length);
            Tensor a = S.alpha(t, like), s = S.sigma(t, like);
            assertArrayEquals(new long[]{ts.length, 1, 1, 1}, Ops.shape(a));
            float[] av = Ops.toFloats(a), sv = Ops.toFloats(s);
            for (int i = 0; i < ts.length; i++) {
                assertEquals(S.alpha(ts[i]), av[i], 1e-7, "alpha at " + ts[i]);
                assertEquals(S.sigma(ts[i]), sv[i], 1e-7, "sigma at " + ts[i]);
            }
        }
    }

    @Test void noisingAt999GivesExactlyTheNoise() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(1);
            Tensor x0 = torch.randn(2, 1, 8, 8), eps = torch.randn(2, 1, 8, 8);
            assertEquals(0.0, Ops.f(S.noised(x0, eps, 999).sub(eps).abs().max()));
            Tensor t = Ops.fromLongs(new long[]{999, 999}, 2);
            assertEquals(0.0, Ops.f(S.noised(x0, eps, t).sub(eps).abs().max()));
        }
    }
}
