package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ImageToImageTest {
    static final NoiseSchedule S = NoiseSchedule.zeroTerminalSnr();

    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void theTimestepsAreTheTrailingTailFromTheFirstAtOrBelowStrengthTimes999() {
        assertEquals(List.of(999, 749, 499, 249), ImageToImage.timesteps(4, 1.0));
        assertEquals(List.of(749, 499, 249), ImageToImage.timesteps(4, 0.75));
        assertEquals(List.of(499, 249), ImageToImage.timesteps(4, 0.5));
        assertEquals(List.of(249), ImageToImage.timesteps(4, 0.25));
        assertEquals(List.of(499), ImageToImage.timesteps(2, 0.5));
        assertEquals(List.of(332), ImageToImage.timesteps(3, 1.0 / 3));       // 3 x 0.333... passes despite rounding
        List<Integer> ddim = ImageToImage.timesteps(50, 0.5);                   // a teacher's DDIM: 25 of its 50 steps
        assertEquals(25, ddim.size());
        assertEquals(Timesteps.trailing(50).subList(25, 50), ddim);
        assertEquals(List.of(), ImageToImage.timesteps(1, 0.0));
    }

    @Test void stepsTimesStrengthBelowOneOrAStrengthOutside0To1IsRefusedWithAClearError() {
        String m = assertThrows(IllegalArgumentException.class, () -> ImageToImage.timesteps(1, 0.5)).getMessage();
        assertTrue(m.startsWith("steps x strength must be >= 1") && m.contains("1 x 0.5 = 0.5") && m.contains("steps >= 2"), m);
        m = assertThrows(IllegalArgumentException.class, () -> ImageToImage.timesteps(4, 0.2)).getMessage();
        assertTrue(m.contains("4 x 0.2") && m.contains("steps >= 5") && m.contains("strength >= 0.25"), m);
        for (double bad : new double[]{-0.1, 1.5, Double.NaN})
            assertEquals("strength must be in 0..1, got " + bad,
                    assertThrows(IllegalArgumentException.class, () -> ImageToImage.timesteps(4, bad)).getMessage());
    }

    @Test void aStudentsOwnTimestepsAreCutAtStrengthTimes999AndAStrengthBelowTheLastIsRefused() {
        List<Integer> own = List.of(999, 899, 799, 699);
        assertEquals(own, ImageToImage.timesteps(own, 1.0));
        assertEquals(List.of(799, 699), ImageToImage.timesteps(own, 0.8));
        assertEquals(List.of(699), ImageToImage.timesteps(own, 0.75));
        // 4 x 0.5 passes diffusers' rule, yet no timestep is at or below 499.5
        String m = assertThrows(IllegalArgumentException.class, () -> ImageToImage.timesteps(own, 0.5)).getMessage();
        assertTrue(m.contains("below the last of the model's timesteps [999, 899, 799, 699]") && m.contains("strength >= 0.700"), m);
        assertEquals(ImageToImage.timesteps(4, 0.5), ImageToImage.timesteps(Timesteps.trailing(4), 0.5), "steps: trailing");
    }

    @Test void strengthOneIsTextToImageBitForBitForEverySampler() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            VPredictionModel m = SamplersTest.tinyModel();
            TextCond c = Conds.random(3, 4);
            Tensor init = torch.rand(3, 1, 32, 32).mul(Ops.s(2)).sub(Ops.s(1));   // any image: it is noised away
            for (Samplers.Kind kind : Samplers.Kind.values())
                for (List<Integer> ts : List.of(Timesteps.trailing(1), Timesteps.trailing(4), List.of(999, 899, 799, 699))) {
                    Noise noise = new Noise(50, 3);
                    Tensor t2i = Samplers.sample(kind, m, S, ts, noise.like(init), c, noise);
                    Tensor i2i = ImageToImage.sample(new SamplingPlan(kind, ts), m, S, 1.0, init, c, new Noise(50, 3));
                    assertTrue(t2i.equal(i2i), kind + " at " + ts);
                }
        }
    }

    @Test void strengthZeroReturnsTheInput() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor init = torch.rand(2, 1, 32, 32);
            Denoiser never = (x, t, c) -> { throw new AssertionError("no step runs at strength 0"); };
            assertTrue(init.equal(ImageToImage.sample(SamplingPlan.student(null, 4, null), never, S, 0.0, init, Conds.random(2, 1), new Noise(0, 2))));
        }
    }

    @Test void theDenoiserSeesTheInputNoisedToTheFirstTimestepWithTheFirstNoiseDraw() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor init = torch.rand(2, 1, 8, 8), eps = new Noise(9, 2).like(init);
            List<Integer> seen = new ArrayList<>();
            Denoiser d = (x, t, c) -> {
                if (seen.isEmpty()) assertEquals(0, SamplersTest.maxDiff(x, S.noised(init, eps, t)), 1e-6);
                seen.add(SamplersTest.oneTimestep(t));
                return init;
            };
            ImageToImage.sample(SamplingPlan.teacher(4, null), d, S, 0.5, init, Conds.random(2, 1), new Noise(9, 2));
            assertEquals(List.of(499, 249), seen);
        }
    }

    /** The shipped student on real test images: how far its output moves from the input grows with the strength. */
    @Test void withTheShippedStudentASmallStrengthStaysCloseToTheInputInPixelL2() {
        try (var scope = new PointerScope(); var g = new NoGradGuard(); TextEncoder text = new TextEncoder()) {
            ModelFile.Loaded student = ModelFile.load(Path.of("models/student-fmnist.safetensors"), new Device("cpu"));
            var split = FashionMnist.loadEmbedded(false);
            int[] idx = {0, 1, 2, 3, 4, 5, 6, 7};
            Tensor x = FashionMnist.images(split, idx);                                     // [8,1,32,32]
            long[] labels = Ops.toLongs(FashionMnist.labels(split, idx));
            List<String> prompts = new ArrayList<>();
            for (long l : labels) prompts.add(Captions.canonical((int) l));
            TextEncoder.Embedding e = text.encode(prompts);
            TextCond c = new TextCond(e.tokens(), e.mask(), e.pooled());
            double[] rms = new double[4];
            double[] strengths = {0.25, 0.5, 0.75, 1.0};
            for (int i = 0; i < 4; i++) {
                Tensor out = ImageToImage.sample(student.plan(4), student.model(), S, strengths[i], x, c, new Noise(0, idx.length));
                rms[i] = Math.sqrt(Ops.f(out.sub(x).square().mean()));
            }
            System.out.printf("image-to-image RMS distance to the input at strength 0.25/0.5/0.75/1: %.3f %.3f %.3f %.3f%n", rms[0], rms[1], rms[2], rms[3]);
            assertTrue(rms[0] < 0.5 * rms[3], "strength 0.25 stays close: " + java.util.Arrays.toString(rms));
            for (int i = 1; i < 4; i++) assertTrue(rms[i - 1] < rms[i], "grows with strength: " + java.util.Arrays.toString(rms));
        }
    }
}
