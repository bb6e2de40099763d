package dev.add4j.disc;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The discriminator's building blocks: spectral norm, local batch norm, heads. */
class DiscriminatorLayersTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void spectralNormPowerIterationConvergesToTheLargestSingularValue() {
        try (var s = new PointerScope()) {
            torch.manual_seed(3);
            SpectralConv1d conv = new SpectralConv1d(6, 5, 3);
            Tensor w = conv.namedParameters().get("weight").detach().reshape(5, -1);               // [5,18]
            double exact = Ops.f(torch.linalg_svdvals(w).max());
            double sigma = 0;
            for (int i = 0; i < 50; i++) sigma = Ops.f(conv.sigma());                              // training mode iterates
            assertEquals(exact, sigma, 1e-4 * exact);
        }
    }

    @Test void spectralNormalisedWeightHasUnitSpectralNormAndTheOutputKeepsItsLength() {
        try (var s = new PointerScope()) {
            torch.manual_seed(4);
            SpectralConv1d conv = new SpectralConv1d(4, 4, 1);
            for (int i = 0; i < 50; i++) conv.sigma();
            conv.train(false);
            Tensor x = torch.randn(2, 4, 7);
            Tensor bias = conv.namedParameters().get("bias").detach().reshape(1, -1, 1);
            Tensor y = conv.forward(x).sub(bias);                                                   // the linear part
            // |W x| <= |x| per token when the spectral norm is 1
            Tensor ratio = y.square().sum(new long[]{1}, false, new ScalarTypeOptional()).div(x.square().sum(new long[]{1}, false, new ScalarTypeOptional()));
            assertTrue(Ops.f(ratio.max()) <= 1 + 1e-4, "max gain " + Math.sqrt(Ops.f(ratio.max())));
        }
    }

    @Test void evalModeKeepsThePowerIterationVectorsFixed() {
        try (var s = new PointerScope()) {
            SpectralConv1d conv = new SpectralConv1d(3, 3, 1);
            conv.train(false);
            Tensor u = conv.namedBuffers().get("u").clone();
            conv.forward(torch.randn(1, 3, 2));
            assertTrue(torch.equal(u, conv.namedBuffers().get("u")));
        }
    }

    @Test void localBatchNormNormalisesEachGroupOfEightOnItsOwn() {
        try (var s = new PointerScope()) {
            LocalBatchNorm bn = new LocalBatchNorm(3);
            Tensor x = torch.randn(16, 3, 5);
            x.narrow(0, 8, 8).mul_(Ops.s(10)).add_(Ops.s(4));                                      // group 2: other scale and shift
            Tensor y = bn.forward(x).reshape(2, 8, 3, 5);
            Tensor mean = y.mean(new long[]{1, 3}, false, new ScalarTypeOptional());               // [2,3]
            Tensor var = y.var(new long[]{1, 3}, false, false);                                    // biased
            assertTrue(Ops.f(mean.abs().max()) < 1e-5, "group means " + Ops.f(mean.abs().max()));
            assertTrue(Ops.f(var.sub(Ops.s(1)).abs().max()) < 1e-3, "group variances");
        }
    }

    @Test void discriminatorGivesOneLogitPerTokenPerHeadAndNeedsItsCondition() {
        try (var s = new PointerScope()) {
            ProjectedDiscriminator d = new ProjectedDiscriminator(3, 8, 5);
            List<Tensor> layers = List.of(torch.randn(8, 17, 8), torch.randn(8, 17, 8), torch.randn(8, 17, 8)); // [B,1+N,C]
            List<Tensor> inputs = layers.stream().map(ProjectedDiscriminator::headInput).toList();
            assertArrayEquals(new long[]{8, 8, 16}, Ops.shape(inputs.get(0)));                     // CLS dropped
            List<Tensor> logits = d.logits(inputs, torch.randn(8, 5));
            assertEquals(3, logits.size());
            for (Tensor l : logits) assertArrayEquals(new long[]{8, 16}, Ops.shape(l));
            assertThrows(IllegalArgumentException.class, () -> d.logits(inputs, null));
            ProjectedDiscriminator none = new ProjectedDiscriminator(3, 8, 0);
            assertArrayEquals(new long[]{8, 16}, Ops.shape(none.logits(inputs, null).get(2)));
        }
    }

    @Test void headInputAddsTheClsTokenToEveryPatchToken() {
        try (var s = new PointerScope()) {
            Tensor layer = torch.zeros(1, 3, 2);                                                   // CLS + 2 patches, C = 2
            layer.select(1, 0).fill_(Ops.s(5));                                                    // CLS = 5
            layer.select(1, 2).fill_(Ops.s(1));                                                    // patch 2 = 1
            Tensor in = ProjectedDiscriminator.headInput(layer);                                   // [1,2,2]
            assertArrayEquals(new float[]{5, 6, 5, 6}, Ops.toFloats(in));
        }
    }
}
