package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class SamplersTest {
    static final NoiseSchedule S = NoiseSchedule.zeroTerminalSnr();

    @BeforeAll static void init() { TorchRuntime.init(); }

    /** The timestep a sampler asked for: it fills one t into every sample of the batch. */
    static int oneTimestep(Tensor t) {
        long[] ts = Ops.toLongs(t);
        for (long v : ts) assertEquals(ts[0], v, "one timestep for the whole batch");
        return (int) ts[0];
    }

    static double maxDiff(Tensor a, Tensor b) { return Ops.f(a.sub(b).abs().max()); }

    /** A denoiser that knows the answer: it always returns {@code x0}. */
    static Denoiser oracle(Tensor x0) { return (xT, t, c) -> x0; }

    @Test void everySamplerWithAnOracleDenoiserReturnsItsX0InOneAndInSeveralSteps() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(5);
            Tensor x0 = torch.randn(3, 1, 8, 8).clamp(new org.bytedeco.pytorch.ScalarOptional(Ops.s(-1)),
                    new org.bytedeco.pytorch.ScalarOptional(Ops.s(1)));
            for (int steps : new int[]{1, 2, 4, 10}) {
                List<Integer> ts = Timesteps.trailing(steps);
                for (Samplers.Kind kind : Samplers.Kind.values()) {
                    Noise noise = new Noise(7, 3);
                    Tensor xT = noise.like(x0);
                    Tensor out = Samplers.sample(kind, oracle(x0), S, ts, xT, Conds.random(3, 1), noise);
                    assertArrayEquals(Ops.shape(x0), Ops.shape(out));
                    assertEquals(0, maxDiff(out, x0), 1e-5, kind + " with " + steps + " steps");
                }
            }
        }
    }

    @Test void ddimWithAnOracleDenoiserStaysOnTheForwardProcessOfItsStartingNoise() {
        // eta = 0: with the true x0, every x_t DDIM visits is alpha_t x0 + sigma_t x_T (x_T = eps at t = 999)
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(6);
            Tensor x0 = torch.randn(2, 1, 8, 8), xT = torch.randn(2, 1, 8, 8);
            List<Double> errors = new ArrayList<>();
            List<Integer> seen = new ArrayList<>();
            Denoiser d = (x, t, c) -> {
                errors.add(maxDiff(x, S.noised(x0, xT, t)));
                seen.add(oneTimestep(t));
                return x0;
            };
            Samplers.ddim(d, S, Timesteps.trailing(5), xT, Conds.random(2, 1));
            assertEquals(Timesteps.trailing(5), seen);
            for (int i = 0; i < errors.size(); i++) assertEquals(0, errors.get(i), 1e-5, "at t = " + seen.get(i));
        }
    }

    /**
     * Runs one Euler-ancestral step from {@code from} (x = noised(0, eps, from)) to {@code to} with the zero-image
     * oracle, and returns the x_to that the denoiser is given next.
     */
    static Tensor ancestralStep(int from, int to, Tensor eps) {
        Tensor zero = torch.zeros_like(eps);
        PointerScope caller = PointerScope.getInnerScope(); // the sampler frees its step's tensors: keep x_to here
        Tensor[] seen = new Tensor[1];
        Denoiser d = (x, t, c) -> {
            if (oneTimestep(t) == to) caller.attach(seen[0] = x.clone());
            return zero;
        };
        Samplers.eulerAncestral(d, S, List.of(from, to), S.noised(zero, eps, from), Conds.random(1, 1), new Noise(11, 1));
        return seen[0];
    }

    @Test void ancestralStepKeepsTotalVariance() {
        // sigmaUp^2 + sigmaDown^2 = sigmaTo^2: with x0 = 0 the next x is alpha_to (down eps + up z), of variance sigma_to^2,
        // and its covariance with the old eps is alpha_to * down (the deterministic part)
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            int from = 499, to = 249;
            Tensor eps = torch.randn(new long[]{1, 1, 256, 256}, new GeneratorOptional(torch.make_generator_cpu(12)));
            Tensor xTo = ancestralStep(from, to, eps);
            double var = Ops.f(xTo.square().mean()), cov = Ops.f(xTo.mul(eps).mean());
            double sFrom = S.sigma(from) / S.alpha(from), sTo = S.sigma(to) / S.alpha(to);
            double up = Math.sqrt(sTo * sTo * (sFrom * sFrom - sTo * sTo) / (sFrom * sFrom));
            double down = Math.sqrt(sTo * sTo - up * up);
            assertEquals(S.sigma(to) * S.sigma(to), var, 0.02 * var, "total variance");
            assertEquals(S.alpha(to) * down, cov, 0.01, "deterministic part");
            assertTrue(up > 0.1 * sTo && down > 0.1 * sTo, "both parts matter at these timesteps");
        }
    }

    @Test void ancestralStepFromPureNoiseIsAFreshRenoisingOfX0() {
        // at t = 999 sigmaFrom is infinite: sigmaDown = 0, sigmaUp = sigmaTo, so x_to keeps nothing of the old noise
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor eps = torch.randn(new long[]{1, 1, 256, 256}, new GeneratorOptional(torch.make_generator_cpu(13)));
            Tensor xTo = ancestralStep(999, 499, eps);
            assertEquals(S.sigma(499) * S.sigma(499), Ops.f(xTo.square().mean()), 0.02 * S.sigma(499) * S.sigma(499));
            assertEquals(0, Ops.f(xTo.mul(eps).mean()), 0.01);
        }
    }

    /** A tiny UNet whose output layer is random (not zero), so the image depends on the network. */
    static VPredictionModel tinyModel() {
        torch.manual_seed(21);
        UNet net = new UNet(UNet.Config.tiny());
        try (var g = new NoGradGuard()) {
            net.namedParameters().get("conv_out.weight").normal_(0, 0.05, new GeneratorOptional());
        }
        net.train(false).requiresGrad(false);
        return new VPredictionModel(net, S);
    }

    static Tensor sample(Samplers.Kind kind, VPredictionModel m, long seed, TextCond c) {
        int b = (int) c.batch();
        Noise noise = new Noise(seed, b);
        Tensor xT = noise.like(torch.empty(b, 1, 32, 32));
        return Samplers.sample(kind, m, S, Timesteps.trailing(2), xT, c, noise);
    }

    @Test void sameSeedGivesSameImageAndDifferentSeedsDiffer() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            VPredictionModel m = tinyModel();
            TextCond c = Conds.random(1, 3);
            for (Samplers.Kind kind : Samplers.Kind.values()) {
                Tensor a = sample(kind, m, 100, c), b = sample(kind, m, 100, c), other = sample(kind, m, 101, c);
                assertTrue(a.equal(b), kind + ": same seed, same image");
                assertTrue(maxDiff(a, other) > 0.1, kind + ": different seeds, different images");
            }
        }
    }

    @Test void imageIWithSeedSPlusIIsTheSameSampledAloneOrInABatchOfFour() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            VPredictionModel m = tinyModel();
            TextCond c4 = Conds.random(4, 9);
            for (Samplers.Kind kind : Samplers.Kind.values()) {
                Tensor batch = sample(kind, m, 40, c4);                                     // seeds 40..43
                for (int i = 0; i < 4; i++) {
                    TextCond ci = c4.select(Ops.fromLongs(new long[]{i}, 1));
                    Tensor alone = sample(kind, m, 40 + i, ci);
                    // not bit-exact: libtorch may pick other kernels for another batch size
                    assertEquals(0, maxDiff(alone, batch.narrow(0, i, 1)), 1e-5, kind + ", image " + i);
                }
            }
        }
    }

    @Test void noiseRefusesABatchThatDoesNotMatchItsSeeds() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new Noise(0, 2).like(torch.zeros(3, 1, 4, 4)));
            assertTrue(e.getMessage().contains("batch 3 but 2 seeds"), e.getMessage());
        }
    }
}
