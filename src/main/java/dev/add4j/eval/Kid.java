package dev.add4j.eval;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the squared
 * maximum mean discrepancy with the cubic polynomial kernel k(x, y) = (x·y / d + 1)^3, averaged over random
 * subsets of both sets. Unlike FID it has an unbiased estimator, so it can be compared across sample sizes and
 * is about 0 (and can be slightly negative) when both sets come from one distribution.
 */
public final class Kid {
    private Kid() {}

    /** Subsets drawn, as in the paper's code and torch-fidelity. */
    public static final int DEFAULT_SUBSETS = 100;
    /** Samples per subset from each set, as in the paper's code and torch-fidelity. */
    public static final int DEFAULT_SUBSET_SIZE = 1000;

    /**
     * KID over subsets.
     * @param mean       mean of the per-subset MMD^2 estimates
     * @param std        their standard deviation (population), a measure of the estimate's spread
     * @param subsets    number of subsets
     * @param subsetSize samples drawn from each set per subset
     */
    public record Result(double mean, double std, int subsets, int subsetSize) {}

    /** {@link #compute(Tensor, Tensor, int, int, long)} with 100 subsets of 1000 and seed 0. */
    public static Result compute(Tensor real, Tensor fake) {
        return compute(real, fake, DEFAULT_SUBSETS, DEFAULT_SUBSET_SIZE, 0);
    }

    /**
     * KID between feature sets [N,D] and [M,D]: MMD^2 on {@code subsets} pairs of random subsets, each drawn without
     * replacement, of min(subsetSize, N, M) rows from each set.
     * @param seed seeds the subset choice, so a result can be reproduced
     * @throws IllegalArgumentException for bad shapes, mismatched dimensions, fewer than 2 rows, or subsets < 1
     */
    public static Result compute(Tensor real, Tensor fake, int subsets, int subsetSize, long seed) {
        if (subsets < 1) throw new IllegalArgumentException("subsets must be >= 1, got " + subsets);
        if (subsetSize < 2) throw new IllegalArgumentException("subsetSize must be >= 2, got " + subsetSize);
        try (var outer = new PointerScope()) {
            Tensor x = MetricInputs.features(real, "real", 2), y = MetricInputs.features(fake, "fake", 2);  // [N,D], [M,D] f64
            MetricInputs.sameDim(x, "real", y, "fake");
            int m = (int) Math.min(subsetSize, Math.min(x.size(0), y.size(0)));
            var gen = new GeneratorOptional(torch.make_generator_cpu(seed));
            double[] est = new double[subsets];
            for (int s = 0; s < subsets; s++) {
                try (var scope = new PointerScope()) {
                    Tensor ix = torch.randperm(x.size(0), gen).narrow(0, 0, m).to(x.device(), torch.ScalarType.Long);         // [m]
                    Tensor iy = torch.randperm(y.size(0), gen).narrow(0, 0, m).to(y.device(), torch.ScalarType.Long);         // [m]
                    est[s] = mmd2Unbiased(x.index_select(0, ix), y.index_select(0, iy));
                }
            }
            double mean = java.util.Arrays.stream(est).average().orElseThrow();
            double var = java.util.Arrays.stream(est).map(e -> (e - mean) * (e - mean)).average().orElseThrow();
            return new Result(mean, Math.sqrt(var), subsets, m);
        }
    }

    /**
     * The unbiased MMD^2 estimate between samples x [m,D] and y [n,D] (m, n >= 2) with the cubic polynomial kernel:
     * <pre>  sum_{i!=j} k(x_i,x_j) / (m(m-1)) + sum_{i!=j} k(y_i,y_j) / (n(n-1)) - 2 sum_{i,j} k(x_i,y_j) / (mn)</pre>
     */
    public static double mmd2Unbiased(Tensor x, Tensor y) {
        try (var scope = new PointerScope()) {
            Tensor a = MetricInputs.features(x, "x", 2), b = MetricInputs.features(y, "y", 2);   // [m,D], [n,D] f64
            MetricInputs.sameDim(a, "x", b, "y");
            long m = a.size(0), n = b.size(0);
            Tensor kxx = kernel(a, a), kyy = kernel(b, b), kxy = kernel(a, b);                     // [m,m] [n,n] [m,n]
            double sxx = Ops.f(kxx.sum().sub(kxx.trace())) / (m * (m - 1.0));  // off-diagonal: i = j is biased
            double syy = Ops.f(kyy.sum().sub(kyy.trace())) / (n * (n - 1.0));
            double sxy = Ops.f(kxy.mean());
            return sxx + syy - 2 * sxy;
        }
    }

    /** The polynomial kernel (a·b / d + 1)^3 between the rows of a [m,D] and b [n,D]. -> [m,n] */
    static Tensor kernel(Tensor a, Tensor b) {
        return a.mm(b.t()).div(Ops.s(a.size(1))).add(Ops.s(1)).pow(Ops.s(3));
    }
}
