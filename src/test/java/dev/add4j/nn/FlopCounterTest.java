package dev.add4j.nn;

import dev.add4j.TorchRuntime;
import dev.add4j.disc.SpectralConv1d;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FlopCounterTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void linearCountsTwoTimesRowsTimesInTimesOut() {
        try (var scope = new PointerScope()) {
            Layers.Linear lin = new Layers.Linear(3, 5);
            Tensor x = torch.randn(2, 4, 3);                                   // 8 rows of 3
            try (FlopCounter c = FlopCounter.start()) {
                lin.forward(x);
                assertEquals(2 * 8 * 3 * 5, c.forward());
                assertEquals(2 * 8 * 3 * 5, c.backward(), "the weight needs dW, the input no gradient: one product");
            }
        }
    }

    @Test void conv2dCountsFromTheOutputShape() {
        try (var scope = new PointerScope()) {
            Layers.Conv2d conv = new Layers.Conv2d(3, 8, 3, 2, 1);
            Tensor x = torch.randn(2, 3, 9, 9);                                // out: (9 + 2 - 3) / 2 + 1 = 5
            try (FlopCounter c = FlopCounter.start()) {
                Tensor y = conv.forward(x);
                assertArrayEquals(new long[]{2, 8, 5, 5}, Ops.shape(y));
                assertEquals(2L * 2 * 8 * 5 * 5 * 3 * 3 * 3, c.forward());  // 2 B Cout Hout Wout Cin k²
            }
        }
    }

    @Test void spectralConv1dAndAttentionAreCounted() {
        try (var scope = new PointerScope()) {
            SpectralConv1d conv = new SpectralConv1d(4, 6, 3);
            Tensor q = torch.randn(1, 2, 4, 8), k = torch.randn(1, 2, 6, 8), v = torch.randn(1, 2, 6, 8); // [B,h,N|M,d]
            try (FlopCounter c = FlopCounter.start()) {
                conv.forward(torch.randn(2, 4, 10));
                assertEquals(2L * 2 * 6 * 10 * 4 * 3, c.forward());          // 2 B Cout N Cin k
                Attention.scaledDotProduct(q, k, v, null, true);
                assertEquals(2L * 2 * 6 * 10 * 4 * 3 + 2 * 2 * 2 * 4 * 6 * 8, c.forward()); // + 2·2·B·h·N·M·d
            }
        }
    }

    @Test void backwardIsEstimatedOnlyForOperandsThatNeedAGradient() {
        try (var scope = new PointerScope()) {
            Layers.Linear lin = new Layers.Linear(3, 5);
            Tensor x = torch.randn(4, 3).requires_grad_(true);
            long f = 2 * 4 * 3 * 5;
            try (FlopCounter c = FlopCounter.start()) {
                lin.forward(x);
                assertEquals(2 * f, c.backward(), "dX and dW: backward = 2 x forward");
                lin.requiresGrad(false);
                lin.forward(x);
                assertEquals(3 * f, c.backward(), "a frozen layer passing a gradient to its input: 1 x");
                try (var g = new NoGradGuard()) { lin.forward(x); }
                assertEquals(3 * f, c.backward(), "no backward under no-grad");
                assertEquals(3 * f, c.forward());
            }
        }
    }

    @Test void onlyOpenCountersCountAndInnerOnesAddToOuterOnes() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Layers.Linear lin = new Layers.Linear(2, 2);
            Tensor x = torch.randn(1, 2);
            long f = 2 * 2 * 2;
            lin.forward(x);                                                    // no counter: nothing to count into
            try (FlopCounter outer = FlopCounter.start()) {
                lin.forward(x);
                try (FlopCounter inner = FlopCounter.start()) {
                    lin.forward(x);
                    assertEquals(f, inner.forward());
                }
                lin.forward(x);
                assertEquals(3 * f, outer.forward());
                FlopCounter closed = FlopCounter.start();
                closed.close();
                lin.forward(x);
                assertEquals(0, closed.total());
                assertEquals(4 * f, outer.forward());
            }
        }
    }
}
