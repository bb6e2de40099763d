package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FidTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    private static FeatureStats stats(double[] mean, double[] cov) {
        int d = mean.length;
        return new FeatureStats(TestTensors.doubles(mean, d), TestTensors.doubles(cov, d, d), 100);
    }

    @Test void commutingDiagonalGaussiansGiveTheClosedForm() {
        try (var scope = new PointerScope()) {
            // FD = |m1 - m2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2 for diagonal covariances
            FeatureStats a = stats(new double[]{0, 1, 2}, new double[]{4, 0, 0, 0, 1, 0, 0, 0, 9});
            FeatureStats b = stats(new double[]{1, 1, 0}, new double[]{1, 0, 0, 0, 1, 0, 0, 0, 1});
            double expected = (1 + 0 + 4) + (Math.pow(2 - 1, 2) + 0 + Math.pow(3 - 1, 2));
            assertEquals(expected, Fid.distance(a, b), 1e-9);
            assertEquals(expected, Fid.distance(b, a), 1e-9, "the distance is symmetric");
        }
    }

    @Test void nonCommutingCovariancesGiveTheTwoByTwoClosedForm() {
        try (var scope = new PointerScope()) {
            // for 2x2, the eigenvalues l1, l2 of C1 C2 are >= 0 and tr sqrt(C1 C2) = sqrt(tr(C1 C2) + 2 sqrt(det C1 det C2))
            double[] c1 = {2, 1, 1, 2}, c2 = {1, -0.5, -0.5, 3};
            FeatureStats a = stats(new double[]{0.5, -1}, c1), b = stats(new double[]{0, 0}, c2);
            double trC1C2 = c1[0] * c2[0] + c1[1] * c2[2] + c1[2] * c2[1] + c1[3] * c2[3];
            double det1 = c1[0] * c1[3] - c1[1] * c1[2], det2 = c2[0] * c2[3] - c2[1] * c2[2];
            double trSqrt = Math.sqrt(trC1C2 + 2 * Math.sqrt(det1 * det2));
            double expected = (0.25 + 1) + (4 + 4) - 2 * trSqrt;
            assertEquals(expected, Fid.distance(a, b), 1e-9);
        }
    }

    @Test void distanceFromFeaturesUsesTheExactSampleStatistics() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(1);
            Tensor x = torch.randn(50, 3).mul(Ops.s(2)).add(Ops.s(1));                             // [50,3]
            Tensor y = torch.randn(40, 3).mm(torch.randn(3, 3));                                    // [40,3], correlated
            double viaTensors = Fid.distance(x, y);
            // the same statistics written out by hand: mean and the N-1 covariance
            double viaHand = Fid.distance(handStats(Ops.toFloats(x), 50, 3), handStats(Ops.toFloats(y), 40, 3));
            assertEquals(viaHand, viaTensors, 1e-9 * Math.max(1, viaHand));
        }
    }

    static FeatureStats handStats(float[] v, int n, int d) {
        double[] mean = new double[d], cov = new double[d * d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mean[j] += v[i * d + j] / (double) n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                for (int k = 0; k < d; k++) cov[j * d + k] += (v[i * d + j] - mean[j]) * (v[i * d + k] - mean[k]) / (n - 1.0);
        return new FeatureStats(TestTensors.doubles(mean, d), TestTensors.doubles(cov, d, d), n);
    }

    @Test void aSetIsAtDistanceZeroFromItself() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(2);
            Tensor x = torch.randn(300, 64);
            assertEquals(0.0, Fid.distance(x, x), 1e-6);
        }
    }

    @Test void fewerSamplesThanDimensionsStillGiveAFiniteNonNegativeDistance() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            Tensor x = torch.randn(10, 40), y = torch.randn(12, 40).add(Ops.s(0.5)); // singular covariances
            double fd = Fid.distance(x, y);
            assertTrue(Double.isFinite(fd) && fd > 0, "fd = " + fd);
            assertEquals(0.0, Fid.distance(x, x), 1e-6);
        }
    }

    @Test void shiftingTheMeanAddsItsSquaredLength() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(4);
            Tensor x = torch.randn(200, 8);
            assertEquals(8 * 0.25, Fid.distance(x, x.add(Ops.s(0.5))), 1e-6); // |(0.5,...,0.5)|^2 over 8 dims
        }
    }

    @Test void mismatchedDimensionsAreRejectedWithBothSizes() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Fid.distance(torch.randn(10, 4), torch.randn(10, 5)));
            assertEquals("feature dimensions differ: featuresA has 4, featuresB has 5", e.getMessage());
        }
    }

    @Test void badFeatureMatricesAreRejectedWithTheirProblem() {
        try (var scope = new PointerScope()) {
            var e1 = assertThrows(IllegalArgumentException.class, () -> Fid.distance(torch.randn(10), torch.randn(10, 5)));
            assertTrue(e1.getMessage().contains("expected a feature matrix [N,D], got shape [10]"), e1.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> Fid.distance(torch.randn(1, 5), torch.randn(10, 5)));
            assertTrue(e2.getMessage().contains("needs at least 2 rows, got 1"), e2.getMessage());
            Tensor nan = torch.randn(10, 5);
            nan.select(0, 3).select(0, 1).fill_(Ops.s(Double.NaN));
            var e3 = assertThrows(IllegalArgumentException.class, () -> Fid.distance(nan, torch.randn(10, 5)));
            assertTrue(e3.getMessage().contains("NaN or infinite"), e3.getMessage());
        }
    }
}
