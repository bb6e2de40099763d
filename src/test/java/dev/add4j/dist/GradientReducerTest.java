package dev.add4j.dist;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** c10d's Reducer, driven from Java: the gradients it averages during the backward pass are those averaged after it. */
class GradientReducerTest {
    @Test void bucketsFollowTheParametersInReverseAndHoldAtLeastOne() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            TensorVector p = new TensorVector(torch.zeros(100), torch.zeros(300), torch.zeros(10), torch.zeros(1000));
            // float32: 400, 1200, 40 and 4000 bytes
            assertEquals(List.of(List.of(3), List.of(2), List.of(1), List.of(0)), GradientReducer.buckets(p, 1000));
            assertEquals(List.of(List.of(3), List.of(2, 1), List.of(0)), GradientReducer.buckets(p, 1300));
        }
    }

    @Test void twoRanksGetTheSameGradientsDuringTheBackwardPassAsAfterIt() throws Exception {
        TorchRuntime.init();
        List<Double> worst = Ranks.run(2, g -> {
            double w = 0;
            UNet a, b;
            synchronized (TorchRuntime.GLOBAL_GENERATOR) {
                torch.manual_seed(3);
                a = new UNet(UNet.Config.tiny());
                torch.manual_seed(3);
                b = new UNet(UNet.Config.tiny());
            }
            TensorVector pa = a.parameterVector(), pb = b.parameterVector();
            try (GradientReducer reducer = GradientReducer.overlapping(g, pa)) {
                assertTrue(reducer.active());
                for (int step = 0; step < 3; step++) {
                    try (var scope = new PointerScope()) {
                        Tensor x, t, c, pooled, mask;
                        synchronized (TorchRuntime.GLOBAL_GENERATOR) {
                            torch.manual_seed(10 + step);
                            x = torch.randn(4, 1, 32, 32).narrow(0, g.rank() * 2, 2);
                            t = torch.randint(0, 1000, new long[]{4}).narrow(0, g.rank() * 2, 2);
                            c = torch.randn(4, 5, 384).narrow(0, g.rank() * 2, 2);
                            pooled = torch.randn(4, 384).narrow(0, g.rank() * 2, 2);
                            mask = torch.ones(2, 5);
                        }
                        for (int i = 0; i < pa.size(); i++) {
                            if (pa.get(i).grad().defined()) pa.get(i).grad().zero_();
                            if (pb.get(i).grad().defined()) pb.get(i).grad().zero_();
                        }
                        reducer.backward(a.forward(x, t, c, mask, pooled).pow(Ops.s(2)).mean());
                        b.forward(x, t, c, mask, pooled).pow(Ops.s(2)).mean().backward();
                        assertTrue(Gradients.average(g, pb, true));
                        for (int i = 0; i < pa.size(); i++)
                            w = Math.max(w, Ops.f(pa.get(i).grad().sub(pb.get(i).grad()).abs().max()));
                    }
                }
            }
            return w;
        });
        System.out.printf("GradientReducerTest: reducer against the flat average, 2 ranks, 3 steps: worst gradient difference %.2e%n", worst.get(0));
        for (double w : worst) assertTrue(w < 1e-6, "gradients differ by " + w);
    }
}
