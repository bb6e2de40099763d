package dev.add4j.features;

import dev.add4j.nn.Layers.Linear;
import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * DINO's projection head (Caron et al. 2021, §3.1 and their {@code DINOHead}): a 3-layer MLP with GELU down to a
 * bottleneck, l2-normalised, then a weight-normalised linear layer without bias onto K prototypes. The weight norm's
 * gain is fixed to 1 (DINO's {@code norm_last_layer=True}, which they found to stabilise training), so each
 * output is the cosine between the bottleneck vector and a prototype.
 *
 * <p>Shapes: x [B,C] -> logits [B,K], each in [-1,1].
 */
public final class DinoHead extends Module {
    private final Linear fc1, fc2, fc3;
    private final Tensor prototypes; // [K,bottleneck], the weight norm's direction v

    /**
     * @param in         input width (the ViT's C)
     * @param hidden     MLP hidden width (DINO: 2048)
     * @param bottleneck width before the prototypes (DINO: 256)
     * @param k          number of prototypes K (DINO: 65536)
     */
    public DinoHead(long in, long hidden, long bottleneck, long k) {
        fc1 = child("mlp.0", new Linear(in, hidden));
        fc2 = child("mlp.1", new Linear(hidden, hidden));
        fc3 = child("mlp.2", new Linear(hidden, bottleneck));
        prototypes = param("last_layer.weight_v", torch.randn(k, bottleneck).mul(Ops.s(0.02)));
        try (var g = new NoGradGuard()) { // DINO's init: truncated normal, std 0.02, zero biases
            for (var e : namedParameters().entrySet()) {
                if (e.getKey().endsWith(".bias")) torch.zero_(e.getValue().detach());
                else if (e.getKey().startsWith("mlp.")) e.getValue().detach().copy_(torch.randn(Ops.shape(e.getValue())).mul(Ops.s(0.02)));
            }
        }
    }

    /** The prototype layer's parameter, whose gradient DINO zeroes during the first steps. */
    public Tensor prototypes() { return prototypes; }

    /** x [B,C] -> [B,K] cosines between the bottleneck embedding and each prototype. */
    public Tensor forward(Tensor x) { return prototypeLogits(embed(x)); }

    /** x [B,C] -> the unit-length bottleneck embedding [B,bottleneck]. */
    public Tensor embed(Tensor x) {
        return unit(fc3.forward(torch.gelu(fc2.forward(torch.gelu(fc1.forward(x))))));             // [B,bottleneck]
    }

    /** Unit-length embeddings [B,bottleneck] -> [B,K] cosines with each prototype. */
    public Tensor prototypeLogits(Tensor embedded) {
        return torch.linear(embedded, unit(prototypes));                                             // [B,K]
    }

    /** Rows scaled to unit l2 norm (eps 1e-6 against division by zero, as F.normalize). */
    static Tensor unit(Tensor x) {
        Tensor n = torch.linalg_vector_norm(x, Ops.s(2), new long[]{-1}, true, new ScalarTypeOptional()); // [...,1]
        return x.div(n.clamp_min(Ops.s(1e-6)));
    }
}
