package dev.add4j.diffusion;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class PrecisionTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void namesParseAndABadOneIsOneClearError() {
        assertEquals(Precision.FP32, Precision.parse("fp32"));
        assertEquals(Precision.BF16, Precision.parse(" BF16 "));
        assertEquals(Precision.BF16, Precision.parse("bfloat16"));
        assertEquals("bf16", Precision.BF16.cliName());
        String m = assertThrows(Add4jException.class, () -> Precision.parse("fp16")).getMessage();
        assertEquals("--precision: expected fp32 or bf16, got 'fp16'", m);
    }

    @Test void fp32LeavesTheDenoiserAlone() {
        Denoiser d = (xT, t, c) -> xT;
        assertSame(d, Precision.FP32.apply(d));
    }

    /**
     * The shipped student sampled in bfloat16 against float32, one ADD step from the same noise: the images differ
     * by far less than one grey level (2/255 in [-1,1] units) on average, come back as float32, and autocast is off
     * again afterwards.
     */
    @Test void theShippedStudentInBf16IsCloseToFp32AndReturnsFloat32() {
        var m = ModelFile.load(Path.of("models", "student-fmnist.safetensors"), new Device("cpu"));
        boolean onednn = torch.globalContext().userEnabledMkldnn();
        torch.globalContext().setUserEnabledMkldnn(true);   // as the commands run (the tests' default is off)
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            TextCond c = Conds.random(4, 7);
            Noise noise = new Noise(0, 4);
            Tensor xT = noise.like(torch.empty(4, 1, 32, 32));
            List<Integer> ts = List.of(999);
            Tensor fp32 = Samplers.addRenoise(m.model(), m.model().schedule(), ts, xT, c, noise);
            Tensor bf16 = Samplers.addRenoise(Precision.BF16.apply(m.model()), m.model().schedule(), ts, xT, c, noise);
            assertEquals(torch.ScalarType.Float, bf16.scalar_type().intern());
            assertFalse(torch.is_autocast_enabled(torch.DeviceType.CPU));
            double rms = Ops.f(bf16.sub(fp32).pow(Ops.s(2)).mean().sqrt()), max = Ops.f(bf16.sub(fp32).abs().max());
            System.out.printf("PrecisionTest: bf16 - fp32, one step: rms %.5f, max %.5f%n", rms, max);
            assertTrue(rms < 2.0 / 255, "rms difference " + rms);
            assertTrue(rms > 0, "bf16 ran in float32: autocast did not reach the network's layers");
        } finally {
            torch.globalContext().setUserEnabledMkldnn(onednn);
        }
    }

    /**
     * oneDNN's bfloat16 convolution is wrong for output widths that are not a multiple of 16 (0.34 relative error
     * for one channel, the UNet's last layer); Layers.convolution pads such a weight under autocast.
     */
    @Test void aOneChannelConvolutionUnderAutocastWithOneDnnMatchesFloat32() {
        boolean onednn = torch.globalContext().userEnabledMkldnn();
        torch.globalContext().setUserEnabledMkldnn(true);
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(5);
            Tensor x = torch.randn(2, 32, 16, 16), w = torch.randn(1, 32, 3, 3).mul(Ops.s(0.1)), b = torch.randn(1);
            Tensor want = dev.add4j.nn.Layers.convolution(x, w, b, 1, 1);
            Tensor got = Precision.autocast(x, () -> dev.add4j.nn.Layers.convolution(x, w, b, 1, 1));
            double rel = Ops.f(got.sub(want).pow(Ops.s(2)).mean().sqrt()) / Ops.f(want.pow(Ops.s(2)).mean().sqrt());
            assertTrue(rel < 0.01, "relative rms error " + rel);
        } finally {
            torch.globalContext().setUserEnabledMkldnn(onednn);
        }
    }
}
