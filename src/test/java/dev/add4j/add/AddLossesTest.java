package dev.add4j.add;

import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Prediction;
import dev.add4j.diffusion.TextCond;
import dev.add4j.disc.DiscHead;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AddLossesTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static Tensor t(float... v) { return Ops.fromFloats(v, 1, v.length); }

    @Test void hingeDIsZeroWhenRealLogitsAboveOneAndFakeBelowMinusOne() {
        try (var s = new PointerScope()) {
            assertEquals(0.0, Ops.f(AddLosses.hingeD(List.of(t(1.5f, 2f), t(3f)), List.of(t(-1f, -4f), t(-1.2f)))), 0.0);
        }
    }

    @Test void hingeDSumsPerHeadMeansOfTheMargins() {
        try (var s = new PointerScope()) {
            // head 1: real [0, 2] -> mean(1, 0) = 0.5, fake [0.5, -3] -> mean(1.5, 0) = 0.75; head 2: real [-1] -> 2, fake [1] -> 2
            double l = Ops.f(AddLosses.hingeD(List.of(t(0f, 2f), t(-1f)), List.of(t(0.5f, -3f), t(1f))));
            assertEquals(0.5 + 0.75 + 2 + 2, l, 1e-6);
        }
    }

    @Test void adversarialGIsMinusTheSumOfPerHeadMeanLogits() {
        try (var s = new PointerScope()) {
            assertEquals(-(1.0 + (-2.0 + 4.0) / 2), Ops.f(AddLosses.adversarialG(List.of(t(1f), t(-2f, 4f)))), 1e-6);
        }
    }

    @Test void eachWeightingMatchesItsFormula() {
        try (var s = new PointerScope()) {
            NoiseSchedule sched = NoiseSchedule.zeroTerminalSnr();
            for (int step : new int[]{20, 250, 500, 980}) {
                double a = sched.alpha(step), sg = sched.sigma(step);
                Tensor alpha = Ops.fromFloats(new float[]{(float) a}, 1), sigma = Ops.fromFloats(new float[]{(float) sg}, 1);
                assertEquals(a, Ops.f(DistillWeighting.EXP.c(alpha, sigma)), 1e-6, "exp at " + step);
                assertEquals(a / (2 * sg) * sg * sg, Ops.f(DistillWeighting.SDS.c(alpha, sigma)), 1e-6, "sds at " + step);
                assertEquals(a / (2 * sg) * sg * sg, Ops.f(DistillWeighting.NFSD.c(alpha, sigma)), 1e-6, "nfsd at " + step);
            }
        }
    }

    static TextCond cond(int b, long seed) {
        Generator g = torch.make_generator_cpu(seed);
        return new TextCond(torch.randn(new long[]{b, 4, 384}, new GeneratorOptional(g)), torch.ones(b, 4),
                torch.randn(new long[]{b, 384}, new GeneratorOptional(g)));
    }

    static AddConfig cfg(DistillWeighting w, double guidance) {
        return AddConfig.paperDefaults(10, 4, 0).withPaper(p -> p.withWeighting(w).withTeacherGuidance(guidance));
    }

    /** A toy teacher with a known answer: x0 = 0.3 x_t + 0.1 (conditional: + 0.05 tanh(pooled[0])). */
    static Denoiser toy() {
        return (xT, t, c) -> {
            Tensor shift = c.pooled().select(1, 0).tanh().mul(Ops.s(0.05)).reshape(-1, 1, 1, 1);     // [B,1,1,1]
            return xT.mul(Ops.s(0.3)).add(Ops.s(0.1)).add(shift);
        };
    }

    @Test void sdsWeightingGivesGradientEqualToWTimesEpsDifference() {
        // add-method.md §6: with c(t) = alpha/(2 sigma) w(t), w = sigma^2, grad of c ||x0Hat - x0Psi||^2 (summed) is w (epsPsi - eps')
        try (var s = new PointerScope()) {
            NoiseSchedule sched = NoiseSchedule.zeroTerminalSnr();
            TextCond c = cond(3, 1), empty = cond(1, 2);
            TeacherTarget target = new TeacherTarget(toy(), sched, empty, cfg(DistillWeighting.SDS, 0));
            Tensor x0Hat = torch.randn(3, 1, 8, 8);
            x0Hat.requires_grad_(true);
            Generator gen = torch.make_generator_cpu(9);
            TeacherTarget.Target tt = target.of(x0Hat, c, gen);
            // the same draws again, to know t and eps'
            Generator again = torch.make_generator_cpu(9);
            Tensor tDraw = torch.randint(20, 981, new long[]{3}, new GeneratorOptional(again));
            Tensor epsPrime = torch.randn(Ops.shape(x0Hat), new GeneratorOptional(again));
            assertArrayEquals(Ops.toLongs(tDraw), Ops.toLongs(tt.t()));
            Tensor alpha = sched.alpha(tDraw, x0Hat), sigma = sched.sigma(tDraw, x0Hat);
            Tensor loss = x0Hat.sub(tt.x0Target()).square().mul(tt.cT()).sum();
            Tensor grad = torch.grad(new TensorVector(loss), new TensorVector(x0Hat), new TensorVector(), new BoolOptional(true), false, false).get(0);
            try (var g = new NoGradGuard()) {
                Tensor xT = alpha.mul(x0Hat).add(sigma.mul(epsPrime));
                Tensor epsPsi = Prediction.epsFromX0(xT, toy().x0(xT, tDraw, c), alpha, sigma);
                Tensor expected = sigma.square().mul(epsPsi.sub(epsPrime));
                assertTrue(Ops.f(grad.sub(expected).abs().max()) < 1e-4 * Math.max(1, Ops.f(expected.abs().max())),
                        "max diff " + Ops.f(grad.sub(expected).abs().max()));
            }
        }
    }

    @Test void nfsdGradientIsWTimesTheGuidanceDirectionAboveT200() {
        // NFSD replaces (epsPsi - eps') by delta_D + s delta_C; with no negative prompt delta_D = 0 for t >= 200
        try (var s = new PointerScope()) {
            NoiseSchedule sched = NoiseSchedule.zeroTerminalSnr();
            TextCond c = cond(4, 3), empty = cond(1, 4);
            double scale = 3.0;
            TeacherTarget target = new TeacherTarget(toy(), sched, empty, cfg(DistillWeighting.NFSD, scale));
            Tensor x0Hat = torch.randn(4, 1, 8, 8);
            x0Hat.requires_grad_(true);
            TeacherTarget.Target tt = target.of(x0Hat, c, torch.make_generator_cpu(12));
            Tensor loss = x0Hat.sub(tt.x0Target()).square().mul(tt.cT()).sum();
            Tensor grad = torch.grad(new TensorVector(loss), new TensorVector(x0Hat), new TensorVector(), new BoolOptional(true), false, false).get(0);
            try (var g = new NoGradGuard()) {
                Generator again = torch.make_generator_cpu(12);
                Tensor tDraw = torch.randint(20, 981, new long[]{4}, new GeneratorOptional(again));
                Tensor epsPrime = torch.randn(Ops.shape(x0Hat), new GeneratorOptional(again));
                Tensor alpha = sched.alpha(tDraw, x0Hat), sigma = sched.sigma(tDraw, x0Hat);
                Tensor xT = alpha.mul(x0Hat).add(sigma.mul(epsPrime));
                Tensor epsC = Prediction.epsFromX0(xT, toy().x0(xT, tDraw, c), alpha, sigma);
                Tensor epsU = Prediction.epsFromX0(xT, toy().x0(xT, tDraw, empty.expandTo(4)), alpha, sigma);
                Tensor small = Ops.perSample(tDraw.lt(Ops.s(200)).to(torch.ScalarType.Float));
                Tensor expected = sigma.square().mul(epsU.mul(small).add(epsC.sub(epsU).mul(Ops.s(scale))));
                double diff = Ops.f(grad.sub(expected).abs().max());
                assertTrue(diff < 1e-4 * Math.max(1, Ops.f(expected.abs().max())), "max diff " + diff);
                // and it is not SDS's direction: eps' does not enter
                Tensor sds = sigma.square().mul(epsC.sub(epsPrime));
                assertTrue(Ops.f(grad.sub(sds).abs().max()) > 0.1, "NFSD differs from SDS");
            }
        }
    }

    @Test void r1ParameterGradientMatchesCentralFiniteDifferencesInDoublePrecision() {
        try (var s = new PointerScope()) {
            torch.manual_seed(21);
            DiscHead head = new DiscHead(4, 3);
            head.train(false); // fixed spectral-norm vectors: R1 is then a function of the weights alone
            try (var g = new NoGradGuard()) {
                for (Tensor p : head.namedParameters().values()) p.set_data(p.to(torch.ScalarType.Double));
                for (Tensor b : head.namedBuffers().values()) b.set_data(b.to(torch.ScalarType.Double));
            }
            Tensor f = torch.randn(8, 4, 5).to(torch.ScalarType.Double);
            f.requires_grad_(true);
            Tensor cond = torch.randn(8, 3).to(torch.ScalarType.Double);
            List<Tensor> features = List.of(f);
            Tensor r1 = AddLosses.r1Penalty(List.of(head.forward(f, cond)), features);
            Map<String, Tensor> params = head.namedParameters();
            List<String> names = List.of("conv1.weight", "conv9.weight", "norm1.weight", "cmapper.weight", "out.weight", "norm9.bias");
            // all analytic gradients first: the finite differences below change the weights in place
            TensorVector grads = torch.grad(new TensorVector(r1), new TensorVector(names.stream().map(params::get).toArray(Tensor[]::new)),
                    new TensorVector(), new BoolOptional(false), false, false);
            for (int k = 0; k < names.size(); k++) {
                String name = names.get(k);
                Tensor p = params.get(name);
                Tensor analytic = grads.get(k);
                long[] idx = {0, Math.min(3, p.numel() - 1)};
                for (long i : idx) {
                    double h = 1e-6, orig;
                    Tensor flat = p.detach().reshape(-1);
                    try (var g = new NoGradGuard()) { orig = Ops.f(flat.select(0, i)); }
                    double plus = r1At(head, flat, i, orig + h, f, cond), minus = r1At(head, flat, i, orig - h, f, cond);
                    try (var g = new NoGradGuard()) { flat.select(0, i).fill_(Ops.s(orig)); }
                    double numeric = (plus - minus) / (2 * h), exact = Ops.f(analytic.reshape(-1).select(0, i));
                    assertEquals(numeric, exact, 1e-5 * Math.max(1, Math.abs(numeric)), name + "[" + i + "]");
                }
            }
        }
    }

    private static double r1At(DiscHead head, Tensor flat, long i, double value, Tensor f, Tensor cond) {
        try (var g = new NoGradGuard()) { flat.select(0, i).fill_(Ops.s(value)); }
        Tensor ff = f.detach().clone();
        ff.requires_grad_(true);
        return Ops.f(AddLosses.r1Penalty(List.of(head.forward(ff, cond)), List.of(ff)));
    }
}
