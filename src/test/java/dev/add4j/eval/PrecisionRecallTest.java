package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PrecisionRecallTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void identicalSetsHavePrecisionAndRecallOne() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(9);
            Tensor x = torch.randn(500, 32);
            PrecisionRecall.Result r = PrecisionRecall.compute(x, x.clone());
            assertEquals(new PrecisionRecall.Result(1.0, 1.0, 3), r);
        }
    }

    @Test void aSetCollapsedToTenPointsKeepsPrecisionButLosesRecall() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(10);
            Tensor real = torch.randn(500, 32);                                                      // [500,32]
            Tensor modes = real.narrow(0, 0, 10);                                                    // 10 real points
            Tensor fake = modes.repeat(50, 1);                                                       // [500,32]: mode collapse
            PrecisionRecall.Result r = PrecisionRecall.compute(real, fake);
            assertEquals(1.0, r.precision(), "every fake sample is a real one");
            assertTrue(r.recall() <= 0.05, "recall " + r.recall());
        }
    }

    @Test void farApartSetsHaveZeroPrecisionAndRecall() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(11);
            Tensor real = torch.randn(200, 8), fake = torch.randn(200, 8).add(Ops.s(100));
            assertEquals(new PrecisionRecall.Result(0.0, 0.0, 3), PrecisionRecall.compute(real, fake));
        }
    }

    @Test void smallOneDimensionalExampleMatchesTheDefinition() {
        try (var scope = new PointerScope()) {
            // real 0..4 with k = 1: every ball has radius 1, so 0.5 is inside and 10 is not -> precision 1/2.
            // fake {0.5, 10}: each ball reaches the other fake point (radius 9.5) and covers all of 0..4 -> recall 1.
            Tensor real = Ops.fromFloats(new float[]{0, 1, 2, 3, 4}, 5, 1), fake = Ops.fromFloats(new float[]{0.5f, 10}, 2, 1);
            assertEquals(new PrecisionRecall.Result(0.5, 1.0, 1), PrecisionRecall.compute(real, fake, 1));
        }
    }

    @Test void blocksGiveTheSameAnswerAsOneBlock() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(12);
            // more rows than one block of the distance matrix, against a direct computation
            Tensor real = torch.randn(PrecisionRecall.BLOCK + 300, 4), fake = torch.randn(700, 4).mul(Ops.s(0.7));
            PrecisionRecall.Result r = PrecisionRecall.compute(real, fake);
            Tensor rr = real.to(torch.ScalarType.Double), ff = fake.to(torch.ScalarType.Double);
            Tensor realRadii = torch.kthvalue(torch.cdist(rr, rr), 4, 1, false).get0();              // [N]
            double precision = Ops.f(torch.cdist(ff, rr).le(realRadii.unsqueeze(0)).any(1).to(torch.ScalarType.Double).mean());
            assertEquals(precision, r.precision(), 1e-12);
        }
    }

    @Test void badInputIsRejectedWithAClearMessage() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> PrecisionRecall.compute(torch.randn(10, 4), torch.randn(10, 6)));
            assertEquals("feature dimensions differ: real has 4, fake has 6", e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> PrecisionRecall.compute(torch.randn(3, 4), torch.randn(10, 4)));
            assertEquals("real: needs at least 4 rows, got 3", e2.getMessage());
            assertThrows(IllegalArgumentException.class, () -> PrecisionRecall.compute(torch.randn(10, 4), torch.randn(10, 4), 0));
        }
    }
}
