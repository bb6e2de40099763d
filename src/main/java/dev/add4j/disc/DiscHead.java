package dev.add4j.disc;

import dev.add4j.nn.Layers;
import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * One discriminator head on one feature layer (StyleGAN-T's DiscHead, add-method.md §5):
 * block(k=1), then a residual block(k=9) with output (f(x) + x)/√2, each block a spectral-normalised Conv1d,
 * {@link LocalBatchNorm} and LeakyReLU 0.2; then a spectral-normalised Conv1d to {@value #CMAP} channels, projected
 * on the condition mapped to {@value #CMAP} dimensions: logit = Σ_channels(out · cmap)/√{@value #CMAP}.
 * Without a condition the last conv has one channel, which is the logit.
 * <p>Shapes: f [B,C,N], cond [B,condDim] (or null when condDim is 0) -> logits [B,N] (one per token).
 */
public final class DiscHead extends Module {
    /** Channels of the projection (StyleGAN-T: 64). */
    public static final int CMAP = 64;
    private final SpectralConv1d conv1, conv9, out;
    private final LocalBatchNorm norm1, norm9;
    private final Layers.Linear cmapper; // null when unconditional

    /** @param condDim size of the condition vector; 0 for an unconditional head */
    public DiscHead(long channels, long condDim) {
        conv1 = child("conv1", new SpectralConv1d(channels, channels, 1));
        norm1 = child("norm1", new LocalBatchNorm(channels));
        conv9 = child("conv9", new SpectralConv1d(channels, channels, 9));
        norm9 = child("norm9", new LocalBatchNorm(channels));
        out = child("out", new SpectralConv1d(channels, condDim > 0 ? CMAP : 1, 1));
        cmapper = condDim > 0 ? child("cmapper", new Layers.Linear(condDim, CMAP)) : null;
    }

    public Tensor forward(Tensor f, Tensor cond) {
        Tensor h = block(conv1, norm1, f);                                                     // [B,C,N]
        h = block(conv9, norm9, h).add(h).mul(Ops.s(1 / Math.sqrt(2)));                        // [B,C,N]
        Tensor o = out.forward(h);                                                             // [B,CMAP|1,N]
        if (cmapper == null) return o.squeeze(1);                                              // [B,N]
        Tensor cmap = cmapper.forward(cond).unsqueeze(2);                                      // [B,CMAP,1]
        return o.mul(cmap).sum(new long[]{1}, false, new org.bytedeco.pytorch.ScalarTypeOptional())
                .mul(Ops.s(1 / Math.sqrt(CMAP)));                                              // [B,N]
    }

    private static Tensor block(SpectralConv1d conv, LocalBatchNorm norm, Tensor x) {
        return torch.leaky_relu(norm.forward(conv.forward(x)), Ops.s(0.2));
    }
}
