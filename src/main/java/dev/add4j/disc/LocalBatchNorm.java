package dev.add4j.disc;

import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Batch normalisation with statistics over groups of {@value #GROUP} samples ("local" or virtual batch norm,
 * StyleGAN-T's BatchNormLocal): each group is normalised by its own mean and variance over samples and tokens,
 * so the statistics do not depend on the batch size. Always batch statistics, no running averages (as StyleGAN-T).
 * A batch that is not a multiple of {@value #GROUP} is normalised as one group.
 * <p>Shapes: x [B,C,N] -> [B,C,N].
 */
public final class LocalBatchNorm extends Module {
    /** Samples per normalisation group (StyleGAN-T: 8). */
    public static final int GROUP = 8;
    private final Tensor weight, bias;

    public LocalBatchNorm(long channels) {
        weight = param("weight", torch.ones(channels));
        bias = param("bias", torch.zeros(channels));
    }

    public Tensor forward(Tensor x) {
        long[] s = Ops.shape(x);                                                              // [B,C,N]
        long groups = s[0] % GROUP == 0 ? s[0] / GROUP : 1;
        Tensor g = x.reshape(groups, -1, s[1], s[2]);                                         // [G,B/G,C,N]
        Tensor mean = g.mean(new long[]{1, 3}, true, new org.bytedeco.pytorch.ScalarTypeOptional()); // [G,1,C,1]
        Tensor var = g.sub(mean).square().mean(new long[]{1, 3}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
        Tensor normed = g.sub(mean).div(var.add(Ops.s(1e-5)).sqrt()).reshape(s[0], s[1], s[2]);  // [B,C,N]
        return normed.mul(weight.reshape(1, -1, 1)).add(bias.reshape(1, -1, 1));
    }
}
