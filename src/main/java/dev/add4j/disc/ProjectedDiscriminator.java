package dev.add4j.disc;

import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The trainable part of ADD's discriminator (add-method.md §5): one {@link DiscHead} per feature layer of a
 * frozen feature network. Each layer's CLS token is added to every patch token and then dropped, and the
 * resulting tokens [B,C,N] go to that layer's head. The frozen network itself is not part of this module.
 * <p>Shapes: features, one [B,1+N,C] per layer (CLS first); cond [B,condDim] or null -> logits, one [B,N] per head.
 */
public final class ProjectedDiscriminator extends Module {
    private final List<DiscHead> heads = new ArrayList<>();
    private final long channels, condDim;

    /**
     * @param layers   number of feature layers (= heads)
     * @param channels feature width C of every layer
     * @param condDim  size of the condition vector, 0 for none
     */
    public ProjectedDiscriminator(int layers, long channels, long condDim) {
        if (layers < 1) throw new IllegalArgumentException("layers must be >= 1, got " + layers);
        this.channels = channels;
        this.condDim = condDim;
        for (int i = 0; i < layers; i++) heads.add(child("heads." + i, new DiscHead(channels, condDim)));
    }

    public int heads() { return heads.size(); }
    public long condDim() { return condDim; }

    /** The heads' inputs: patch tokens plus the CLS token, channels first. [B,1+N,C] -> [B,C,N] per layer. */
    public static Tensor headInput(Tensor layer) {
        long n = layer.size(1) - 1;
        return layer.narrow(1, 1, n).add(layer.narrow(1, 0, 1)).transpose(1, 2);            // [B,C,N]
    }

    /** Logits of every head for already-prepared head inputs (see {@link #headInput}); R1 differentiates these. */
    public List<Tensor> logits(List<Tensor> headInputs, Tensor cond) {
        if (headInputs.size() != heads.size())
            throw new IllegalArgumentException("expected " + heads.size() + " feature layers, got " + headInputs.size());
        if ((cond == null) != (condDim == 0))
            throw new IllegalArgumentException(condDim == 0 ? "cond: this discriminator is unconditional" : "cond: required");
        List<Tensor> out = new ArrayList<>(heads.size());
        for (int i = 0; i < heads.size(); i++) {
            Tensor f = headInputs.get(i);
            Ops.expectShape(f, "features[" + i + "]", -1, channels, -1);
            out.add(heads.get(i).forward(f, cond));                                            // [B,N]
        }
        return out;
    }
}
