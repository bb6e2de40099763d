package dev.add4j.eval;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * CLIP score (Hessel et al. 2021) with add4j's own image-text pair: the {@link EvalNet} projection of an image
 * against the frozen MiniLM pooled embedding of its prompt,
 * <pre>  CLIPScore = 100 * mean_i max(cos(imageProj_i, text_i), 0)</pre>
 * (Hessel et al. scale by w = 2.5 instead of 100; torchmetrics uses 100, as here. The ADD paper's tables give
 * the bare cosine, e.g. 0.326 = a score of 32.6. Absolute values depend on the embedding pair, so compare
 * scores only between runs measured with the same EvalNet.)
 */
public final class ClipScore {
    private ClipScore() {}

    /**
     * The mean CLIP score of N image-prompt pairs.
     * @param imageProj  [N,D] image embeddings (need not be normalised)
     * @param textPooled [N,D] text embeddings of each image's prompt (need not be normalised)
     * @throws IllegalArgumentException for mismatched shapes or non-finite values
     */
    public static double score(Tensor imageProj, Tensor textPooled) {
        try (var scope = new PointerScope()) {
            return Ops.f(perPair(imageProj, textPooled).mean());
        }
    }

    /** Per-pair scores 100 * max(cos, 0), float64. [N,D], [N,D] -> [N] */
    public static Tensor perPair(Tensor imageProj, Tensor textPooled) {
        Tensor a = MetricInputs.features(imageProj, "imageProj", 1);                               // [N,D] f64
        Tensor b = MetricInputs.features(textPooled, "textPooled", 1).to(a.device(), torch.ScalarType.Double);             // [N,D] f64
        MetricInputs.sameDim(a, "imageProj", b, "textPooled");
        if (a.size(0) != b.size(0))
            throw new IllegalArgumentException("imageProj has " + a.size(0) + " rows but textPooled has " + b.size(0)
                    + "; one prompt embedding per image is needed");
        Tensor cos = torch.normalize(a).mul(torch.normalize(b)).sum(1);                             // [N]
        return cos.clamp_min(Ops.s(0)).mul(Ops.s(100));
    }
}
