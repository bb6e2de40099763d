package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TeacherLossTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void teacherLossIsPerSampleOfShapeB() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(8);
            var m = new VPredictionModel(new UNet(UNet.Config.tiny()), NoiseSchedule.zeroTerminalSnr());
            Tensor x0 = torch.randn(3, 1, 16, 16), eps = torch.randn(3, 1, 16, 16);
            Tensor loss = TeacherLoss.vLoss(m, x0, eps, Ops.fromLongs(new long[]{0, 500, 999}, 3), Conds.random(3, 2));
            assertArrayEquals(new long[]{3}, Ops.shape(loss));
        }
    }

    @Test void teacherLossOfTheZeroInitialisedNetworkIsTheMeanSquareOfTheVTarget() {
        // the output layer starts at zero, so v_theta = 0 and the loss is mean(v^2) with v = alpha eps - sigma x0
        try (var scope = new PointerScope()) {
            torch.manual_seed(9);
            NoiseSchedule s = NoiseSchedule.zeroTerminalSnr();
            var m = new VPredictionModel(new UNet(UNet.Config.tiny()), s);
            Tensor x0 = torch.randn(3, 1, 16, 16), eps = torch.randn(3, 1, 16, 16);
            Tensor t = Ops.fromLongs(new long[]{0, 500, 999}, 3);
            Tensor loss = TeacherLoss.vLoss(m, x0, eps, t, Conds.random(3, 2));
            Tensor v = Prediction.vFromX0Eps(x0, eps, s.alpha(t, x0), s.sigma(t, x0));
            Tensor want = v.square().mean(new long[]{1, 2, 3}, false, new ScalarTypeOptional());
            assertEquals(0, Ops.f(loss.sub(want).abs().max()), 1e-6);
            // at t = 999 (alpha = 0, sigma = 1) the target is v = -x0
            assertEquals(Ops.f(x0.narrow(0, 2, 1).square().mean()), Ops.toFloats(loss)[2], 1e-5);
        }
    }
}
