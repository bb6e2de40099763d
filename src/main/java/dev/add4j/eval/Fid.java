package dev.add4j.eval;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The Fréchet distance between two Gaussians fitted to feature sets (FID, Heusel et al. 2017):
 * <pre>  FD = |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))</pre>
 * computed in float64 with libtorch. The trace of the matrix square root uses
 * tr((C1 C2)^(1/2)) = tr((S C2 S)^(1/2)) with S = C1^(1/2): C1 C2 is not symmetric, but S C2 S is symmetric
 * positive semi-definite and similar to C1 C2, so both square roots come from symmetric eigendecompositions
 * ({@code linalg_eigh}), with eigenvalues that rounding makes slightly negative clamped to 0. This avoids the
 * complex parts scipy's {@code sqrtm} returns for singular covariances (fewer samples than dimensions).
 */
public final class Fid {
    private Fid() {}

    /** Fréchet distance between the Gaussians of two feature sets [N,D] and [M,D] (N, M >= 2). */
    public static double distance(Tensor featuresA, Tensor featuresB) {
        try (var scope = new PointerScope()) {
            MetricInputs.features(featuresA, "featuresA", 2);   // shape errors first, named after the argument
            MetricInputs.features(featuresB, "featuresB", 2);
            MetricInputs.sameDim(featuresA, "featuresA", featuresB, "featuresB");
            return distance(FeatureStats.of(featuresA), FeatureStats.of(featuresB));
        }
    }

    /**
     * Fréchet distance between two Gaussians given by their statistics.
     * @throws IllegalArgumentException when the dimensions differ
     */
    public static double distance(FeatureStats a, FeatureStats b) {
        if (a.dim() != b.dim())
            throw new IllegalArgumentException("feature dimensions differ: " + a.dim() + " vs " + b.dim());
        try (var scope = new PointerScope()) {
            Tensor c1 = a.cov().to(torch.ScalarType.Double), c2 = b.cov().to(torch.ScalarType.Double); // [D,D]
            Tensor diff = a.mean().to(torch.ScalarType.Double).sub(b.mean().to(torch.ScalarType.Double)); // [D]
            Tensor s = sqrtPsd(c1);                                                                        // [D,D]
            Tensor m = s.mm(c2).mm(s);                                                                     // [D,D]
            double traceSqrt = Ops.f(eigenvaluesPsd(m).sqrt().sum());
            double fd = Ops.f(diff.dot(diff)) + Ops.f(c1.trace()) + Ops.f(c2.trace()) - 2 * traceSqrt;
            return Math.max(fd, 0.0); // a true distance is >= 0; only rounding can take it a hair below
        }
    }

    /** The symmetric PSD square root V diag(sqrt(max(l, 0))) V^T of a symmetric matrix. [D,D] -> [D,D] */
    static Tensor sqrtPsd(Tensor c) {
        var eig = torch.linalg_eigh(symmetrised(c));
        Tensor values = eig.get0().clamp_min(Ops.s(0)).sqrt();                                         // [D]
        Tensor vectors = eig.get1();                                                                    // [D,D]
        return vectors.mul(values.unsqueeze(0)).mm(vectors.t());                                        // [D,D]
    }

    /** Eigenvalues of a symmetric PSD matrix, the slightly negative ones from rounding set to 0. [D,D] -> [D] */
    static Tensor eigenvaluesPsd(Tensor m) {
        return torch.linalg_eigvalsh(symmetrised(m)).clamp_min(Ops.s(0));
    }

    /** (M + M^T) / 2: products like S C2 S are symmetric only up to rounding, and eigh reads one triangle. */
    private static Tensor symmetrised(Tensor m) { return m.add(m.t()).mul(Ops.s(0.5)); }
}
