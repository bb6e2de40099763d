package dev.add4j.eval;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019). Each set's manifold is approximated by the union of
 * balls around its points, each ball reaching the point's k-th nearest neighbour in the same set (k = 3):
 * <ul>
 *   <li>precision: the fraction of generated samples inside the real manifold (how realistic they are);</li>
 *   <li>recall: the fraction of real samples inside the generated manifold (how much variety is covered).</li>
 * </ul>
 * A point on a ball's boundary (distance = radius) counts as inside, as in the authors' code. Distances are
 * Euclidean, in float64, computed in row blocks so memory stays at {@value #BLOCK} x N per block.
 */
public final class PrecisionRecall {
    private PrecisionRecall() {}

    /** The paper's neighbourhood size. */
    public static final int DEFAULT_K = 3;
    /** Rows of one block of the distance matrix. */
    static final int BLOCK = 1024;

    /** Precision and recall, each in [0, 1], for neighbourhood size {@code k}. */
    public record Result(double precision, double recall, int k) {}

    /** {@link #compute(Tensor, Tensor, int)} with k = 3. */
    public static Result compute(Tensor real, Tensor fake) { return compute(real, fake, DEFAULT_K); }

    /**
     * Precision and recall of {@code fake} [M,D] against {@code real} [N,D] (N, M > k).
     * @throws IllegalArgumentException for bad shapes, mismatched dimensions, k < 1 or too few rows
     */
    public static Result compute(Tensor real, Tensor fake, int k) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        try (var scope = new PointerScope()) {
            Tensor r = MetricInputs.features(real, "real", k + 1);                                   // [N,D] f64
            Tensor f = MetricInputs.features(fake, "fake", k + 1).to(r.device(), torch.ScalarType.Double);                 // [M,D] f64
            MetricInputs.sameDim(r, "real", f, "fake");
            Tensor realRadii = kthNeighbourRadii(r, k);                                               // [N]
            Tensor fakeRadii = kthNeighbourRadii(f, k);                                               // [M]
            return new Result(fractionInside(f, r, realRadii), fractionInside(r, f, fakeRadii), k);
        }
    }

    /**
     * Distance from each row of x [N,D] to its k-th nearest other row. -> [N]. The (k+1)-th smallest distance
     * is taken because each row's distance to itself, 0, is the smallest.
     */
    static Tensor kthNeighbourRadii(Tensor x, int k) {
        long n = x.size(0);
        Tensor radii = torch.empty(n).to(x.device(), torch.ScalarType.Double);                      // [N]
        for (long i = 0; i < n; i += BLOCK) {
            long b = Math.min(BLOCK, n - i);
            try (var scope = new PointerScope()) {
                Tensor d = distances(x.narrow(0, i, b), x);                                          // [b,N]
                radii.narrow(0, i, b).copy_(torch.kthvalue(d, k + 1, 1, false).get0());
            }
        }
        return radii;
    }

    /** The fraction of rows of q [M,D] within distance radii[j] of some row j of ref [N,D]. */
    static double fractionInside(Tensor q, Tensor ref, Tensor refRadii) {
        long m = q.size(0), inside = 0;
        for (long i = 0; i < m; i += BLOCK) {
            long b = Math.min(BLOCK, m - i);
            try (var scope = new PointerScope()) {
                Tensor d = distances(q.narrow(0, i, b), ref);                                        // [b,N]
                inside += d.le(refRadii.unsqueeze(0)).any(1).sum().item_long();
            }
        }
        return inside / (double) m;
    }

    /**
     * Euclidean distances between the rows of a [m,D] and b [n,D]. -> [m,n]. Through matrix products (mode 1), in
     * float64 so that a row's distance to an identical row is 0 to about 1e-7 of the features' scale.
     */
    static Tensor distances(Tensor a, Tensor b) {
        return torch.cdist(a, b, 2.0, new LongOptional(1));
    }
}
