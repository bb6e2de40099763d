package dev.add4j.nn;

import dev.add4j.TorchRuntime;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class AttentionTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void writtenOutAttentionEqualsLibtorchsFusedKernelWithAndWithoutAMask() {
        try (var s = new PointerScope(); var g = new NoGradGuard()) {
            Tensor q = torch.randn(2, 3, 5, 8), k = torch.randn(2, 3, 7, 8), v = torch.randn(2, 3, 7, 8);
            Tensor mask = torch.rand(2, 1, 1, 7).gt(Ops.s(0.4));
            mask.select(3, 0).fill_(Ops.s(1)); // every row keeps a key
            for (Tensor m : new Tensor[]{null, mask}) {
                Tensor fused = torch.scaled_dot_product_attention(q, k, v, m == null ? new TensorOptional() : new TensorOptional(m),
                        0.0, false, new DoubleOptional(), false);
                assertTrue(Attention.scaledDotProduct(q, k, v, m, false).allclose(fused, 1e-5, 1e-5, false), m == null ? "no mask" : "mask");
            }
        }
    }

    @Test void aFullyMaskedRowGivesUniformWeightsNotNaN() {
        try (var s = new PointerScope(); var g = new NoGradGuard()) {
            Tensor q = torch.randn(1, 1, 2, 4), k = torch.randn(1, 1, 3, 4), v = torch.randn(1, 1, 3, 4);
            Tensor out = Attention.scaledDotProduct(q, k, v, torch.zeros(1, 1, 1, 3).gt(Ops.s(0.5)), false);
            assertTrue(out.allclose(v.mean(new long[]{2}, true, new org.bytedeco.pytorch.ScalarTypeOptional()).expand(1, 1, 2, 4), 1e-5, 1e-6, false));
        }
    }
}
