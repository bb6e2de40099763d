package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class KidTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static double k(double[] a, double[] b) {
        double dot = 0;
        for (int i = 0; i < a.length; i++) dot += a[i] * b[i];
        return Math.pow(dot / a.length + 1, 3);
    }

    @Test void mmdMatchesTheUnbiasedFormulaComputedByHand() {
        try (var scope = new PointerScope()) {
            double[][] x = {{1, 0}, {0, 2}, {-1, 1}}, y = {{0.5, 0.5}, {2, -1}};
            double sxx = 0, syy = 0, sxy = 0;
            for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) if (i != j) sxx += k(x[i], x[j]);
            for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) if (i != j) syy += k(y[i], y[j]);
            for (double[] a : x) for (double[] b : y) sxy += k(a, b);
            double expected = sxx / 6 + syy / 2 - 2 * sxy / 6;
            double got = Kid.mmd2Unbiased(TestTensors.doubles(new double[]{1, 0, 0, 2, -1, 1}, 3, 2),
                    TestTensors.doubles(new double[]{0.5, 0.5, 2, -1}, 2, 2));
            assertEquals(expected, got, 1e-12);
        }
    }

    @Test void unbiasedEstimateAveragesToZeroForOneDistributionWhereTheBiasedOneDoesNot() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(6);
            int draws = 200, m = 10, d = 4;
            double sum = 0, sumSq = 0, biased = 0;
            for (int i = 0; i < draws; i++) {
                Tensor x = torch.randn(m, d).to(torch.ScalarType.Double), y = torch.randn(m, d).to(torch.ScalarType.Double);
                double u = Kid.mmd2Unbiased(x, y);
                sum += u;
                sumSq += u * u;
                // the V-statistic keeps the i = j terms, which are positive on average: its mean is > 0
                biased += Ops.f(Kid.kernel(x, x).mean().add(Kid.kernel(y, y).mean()).sub(Kid.kernel(x, y).mean().mul(Ops.s(2))));
            }
            double mean = sum / draws, sem = Math.sqrt((sumSq / draws - mean * mean) / draws);
            assertTrue(Math.abs(mean) < 3 * sem, "unbiased mean " + mean + " vs standard error " + sem);
            assertTrue(biased / draws > 10 * sem, "biased mean " + biased / draws + " should be clearly positive");
        }
    }

    @Test void kidIsNearZeroForOneDistributionAndClearlyPositiveForAShiftedOne() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(7);
            Tensor real = torch.randn(400, 16), same = torch.randn(400, 16), shifted = torch.randn(400, 16).add(Ops.s(0.5));
            Kid.Result r0 = Kid.compute(real, same, 20, 200, 0);
            Kid.Result r1 = Kid.compute(real, shifted, 20, 200, 0);
            assertEquals(200, r0.subsetSize());
            // the subsets' spread bounds what one draw of 400 can tell from 0; the shift is far outside it
            assertTrue(Math.abs(r0.mean()) < 2 * r0.std(), "same distribution: " + r0);
            assertTrue(r1.mean() > 0.5 && r1.mean() > 30 * Math.abs(r0.mean()), "shifted: " + r1 + " vs same " + r0);
        }
    }

    @Test void sameSeedGivesTheSameResultAndSubsetsShrinkToTheSmallerSet() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(8);
            Tensor a = torch.randn(30, 5), b = torch.randn(50, 5);
            Kid.Result r1 = Kid.compute(a, b, 5, 1000, 42), r2 = Kid.compute(a, b, 5, 1000, 42);
            assertEquals(r1, r2);
            assertEquals(30, r1.subsetSize());
        }
    }

    @Test void badInputIsRejectedWithAClearMessage() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Kid.compute(torch.randn(10, 4), torch.randn(10, 3)));
            assertEquals("feature dimensions differ: real has 4, fake has 3", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Kid.compute(torch.randn(10, 4), torch.randn(10, 4), 0, 10, 0));
            var e2 = assertThrows(IllegalArgumentException.class, () -> Kid.mmd2Unbiased(torch.randn(1, 4), torch.randn(10, 4)));
            assertEquals("x: needs at least 2 rows, got 1", e2.getMessage());
        }
    }
}
