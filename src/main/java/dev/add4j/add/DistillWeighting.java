package dev.add4j.add;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;

import java.util.Locale;

/**
 * The weighting c(t) of the score-distillation loss c(t)·‖x̂_θ − sg(x̂_ψ)‖² (add-method.md §6).
 * NFSD shares SDS's weighting; what differs is the target (see {@link TeacherTarget}).
 */
public enum DistillWeighting {
    /** c(t) = α_t: higher noise counts less. The paper's ablation default; lower FID, more diversity. */
    EXP,
    /**
     * c(t) = α_t/(2σ_t)·w(t) with w(t) = σ_t² [choice], so that the gradient of c(t)‖x̂_θ − x̂_ψ‖² is DreamFusion's
     * w(t)(ε̂_ψ − ε'): x̂_θ − x̂_ψ = (σ_t/α_t)(ε̂_ψ − ε').
     */
    SDS,
    /** Noise-free score distillation (Katzir et al.): SDS's c(t), with (ε̂_ψ − ε') replaced by δ_D + s·δ_C. */
    NFSD;

    /** c(t) per sample from α_t, σ_t (any shape, broadcast alike). */
    public Tensor c(Tensor alpha, Tensor sigma) {
        return switch (this) {
            case EXP -> alpha;
            case SDS, NFSD -> alpha.div(sigma.mul(Ops.s(2))).mul(sigma.square());
        };
    }

    /** Parses the command-line spelling (exp, sds, nfsd). */
    public static DistillWeighting parse(String s) {
        for (DistillWeighting w : values()) if (w.cliName().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return w;
        throw new Add4jException("--weighting: expected exp, sds or nfsd, got '" + s + "'");
    }

    public String cliName() { return name().toLowerCase(Locale.ROOT); }
}
