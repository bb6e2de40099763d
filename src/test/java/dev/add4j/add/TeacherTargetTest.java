package dev.add4j.add;

import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TeacherTargetTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A tiny teacher whose zero-initialised layers are nudged, so that its answer depends on the text. */
    static VPredictionModel tinyTeacher() {
        torch.manual_seed(3);
        UNet net = new UNet(UNet.Config.tiny());
        try (var g = new NoGradGuard()) {
            for (Tensor p : net.namedParameters().values()) p.add_(torch.randn(Ops.shape(p)).mul(Ops.s(0.05)));
        }
        return new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr());
    }

    @Test void guidanceThroughTheTeacherTargetEqualsGuidanceThroughSampling() {
        // one teacher step of the target at t, and a one-step DDIM sample from t (its last step returns x0 as is):
        // the same guided x0, bit for bit, though the target passes per-sample t and the sampler one int t
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            VPredictionModel teacher = tinyTeacher();
            TextCond c = AddLossesTest.cond(3, 1), empty = AddLossesTest.cond(1, 2);
            double w = 3.0;
            TeacherTarget target = new TeacherTarget(teacher, empty, AddLossesTest.cfg(DistillWeighting.SDS, w));
            Tensor xT = torch.randn(teacher.imageShape(3));
            for (int t : List.of(999, 500)) {
                Tensor perSample = torch.full(new long[]{3}, Ops.s(t), Ops.longOn(xT.device()));
                Tensor fromTarget = target.teacherX0(xT, perSample, c);
                SamplingPlan plan = new SamplingPlan(Samplers.Kind.DDIM, List.of(t));
                Tensor fromSampling = plan.sample(plan.denoiser(teacher, empty, w), teacher.schedule(), xT, c, null);
                assertTrue(torch.equal(fromTarget, fromSampling),
                        "t = " + t + ": max diff " + Ops.f(fromTarget.sub(fromSampling).abs().max()));
                Tensor unguided = target(teacher, empty, 0).teacherX0(xT, perSample, c);
                assertTrue(Ops.f(fromTarget.sub(unguided).abs().max()) > 1e-3, "guidance changes the target at t = " + t);
            }
        }
    }

    @Test void eachSampleIsGuidedAtItsOwnTimestep() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            VPredictionModel teacher = tinyTeacher();
            TextCond c = AddLossesTest.cond(3, 4), empty = AddLossesTest.cond(1, 5);
            double w = 2.0;
            Tensor xT = torch.randn(teacher.imageShape(3));
            int[] ts = {999, 500, 20};
            Tensor got = target(teacher, empty, w).teacherX0(xT, Ops.fromLongs(new long[]{999, 500, 20}, 3), c);
            Denoiser sampling = new SamplingPlan(Samplers.Kind.DDIM, List.of(999)).denoiser(teacher, empty, w);
            for (int i = 0; i < 3; i++) {
                Tensor want = sampling.x0(xT, ts[i], c).narrow(0, i, 1);
                double diff = Ops.f(got.narrow(0, i, 1).sub(want).abs().max());
                assertEquals(0, diff, 1e-5, "sample " + i + " at t = " + ts[i]);
            }
        }
    }

    static TeacherTarget target(VPredictionModel teacher, TextCond empty, double w) {
        return new TeacherTarget(teacher, empty, AddLossesTest.cfg(DistillWeighting.SDS, w));
    }
}
