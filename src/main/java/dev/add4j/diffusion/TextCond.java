package dev.add4j.diffusion;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The text condition of a batch, as the UNet consumes it.
 * Shapes: tokens [B,L,D] (token states), mask [B,L] (1 = real token, 0 = padding), pooled [B,D] (sentence vector).
 */
public record TextCond(Tensor tokens, Tensor mask, Tensor pooled) {
    /** Batch size. */
    public long batch() { return tokens.size(0); }

    /** The same condition on {@code device}. */
    public TextCond to(Device device) {
        return new TextCond(tokens.to(device, tokens.scalar_type()), mask.to(device, mask.scalar_type()), pooled.to(device, pooled.scalar_type()));
    }

    /** This batch followed by {@code other}'s: [B1+B2, ...]. */
    public TextCond cat(TextCond other) {
        return new TextCond(torch.cat(new TensorVector(tokens, other.tokens), 0), torch.cat(new TensorVector(mask, other.mask), 0),
                torch.cat(new TensorVector(pooled, other.pooled), 0));
    }

    /** A one-sample condition ([1,...]) repeated to {@code b} samples. */
    public TextCond expandTo(long b) {
        return new TextCond(tokens.expand(b, -1, -1), mask.expand(b, -1), pooled.expand(b, -1));
    }

    /** Samples {@code index} [K] (int64) of this table of conditions. */
    public TextCond select(Tensor index) {
        return new TextCond(torch.index_select(tokens, 0, index), torch.index_select(mask, 0, index), torch.index_select(pooled, 0, index));
    }

    /** This condition with its tensors retained, so that it outlives the scope it was made in (a run's fixed prompts). */
    public TextCond retained() {
        return new TextCond(tokens.retainReference(), mask.retainReference(), pooled.retainReference());
    }
}
