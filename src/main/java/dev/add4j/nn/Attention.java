package dev.add4j.nn;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Scaled dot-product attention, softmax(q kᵀ/√d + mask) v, for the UNet and the ViT.
 * On the GPU it is libtorch's fused {@code scaled_dot_product_attention}. On the CPU it is written out as
 * matmul-softmax-matmul: libtorch's fused CPU kernel (flash attention) gave NaN gradients now and then in add4j's
 * training runs, depending on what memory it was handed (a run of the same test class NaN'd in 2 of 5 tries, never
 * with this path; pytorch/pytorch#166211 reports the same), and at add4j's sequence lengths (≤ 65 tokens) the
 * written-out form costs about the same.
 */
public final class Attention {
    private Attention() {}

    /** Large negative logit for masked keys: a fully masked row gives uniform weights rather than NaN. */
    private static final double MASKED = -1e9;

    /**
     * @param q    [B,h,N,d]
     * @param k    [B,h,M,d]
     * @param v    [B,h,M,d]
     * @param mask boolean, broadcastable to [B,h,N,M], true = attend; or null
     * @param math force the written-out form on any device (it supports double backward, the fused kernels do not)
     * @return [B,h,N,d]
     */
    public static Tensor scaledDotProduct(Tensor q, Tensor k, Tensor v, Tensor mask, boolean math) {
        FlopCounter.attention(q, k, v);
        if (!math && q.is_cuda())
            return torch.scaled_dot_product_attention(q, k, v, mask == null ? new TensorOptional() : new TensorOptional(mask),
                    0.0, false, new DoubleOptional(), false);
        Tensor logits = q.matmul(k.transpose(-2, -1)).mul(Ops.s(1 / Math.sqrt(q.size(-1))));         // [B,h,N,M]
        if (mask != null) logits = logits.masked_fill(mask.logical_not(), Ops.s(MASKED));
        return logits.softmax(-1).matmul(v);                                                          // [B,h,N,d]
    }
}
