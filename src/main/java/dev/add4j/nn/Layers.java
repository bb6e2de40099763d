package dev.add4j.nn;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** The basic layers, each a few lines over libtorch's functional ops, initialised as PyTorch does. */
public final class Layers {
    private Layers() {}

    /** Uniform in [-bound, bound), PyTorch's default (Kaiming-uniform with a = sqrt(5)) for fan-in {@code fanIn}. */
    static Tensor uniform(double bound, long... shape) {
        return torch.rand(shape).mul(Ops.s(2 * bound)).sub(Ops.s(bound));
    }

    /** y = x W^T + b. Shapes: x [..., in] -> [..., out]. */
    public static final class Linear extends Module {
        final Tensor weight, bias;
        public Linear(long in, long out) { this(in, out, true); }
        public Linear(long in, long out, boolean withBias) {
            double bound = 1.0 / Math.sqrt(in);
            weight = param("weight", uniform(bound, out, in));
            bias = withBias ? param("bias", uniform(bound, out)) : null;
        }
        public Tensor forward(Tensor x) {
            Tensor y = bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
            FlopCounter.layer(x, weight, y);
            return y;
        }
        /** Sets the weights (and bias) to zero: a residual branch that starts as the identity. */
        public Linear zeroInit() { torch.zero_(weight.detach()); if (bias != null) torch.zero_(bias.detach()); return this; }
    }

    /** 2-d convolution with a square kernel. Shapes: x [B,in,H,W] -> [B,out,H',W']. */
    public static final class Conv2d extends Module {
        final Tensor weight, bias;
        final long stride, padding;
        public Conv2d(long in, long out, long kernel, long stride, long padding) {
            double bound = 1.0 / Math.sqrt(in * kernel * kernel);
            weight = param("weight", uniform(bound, out, in, kernel, kernel));
            bias = param("bias", uniform(bound, out));
            this.stride = stride;
            this.padding = padding;
        }
        public Tensor forward(Tensor x) {
            Tensor y = torch.conv2d(x, weight, new TensorOptional(bias), new long[]{stride, stride},
                    new long[]{padding, padding}, new long[]{1, 1}, 1);
            FlopCounter.layer(x, weight, y);
            return y;
        }

        /** Sets weights and bias to zero (output layers, residual branches). */
        public Conv2d zeroInit() { torch.zero_(weight.detach()); torch.zero_(bias.detach()); return this; }
    }

    /** Group normalisation with a learned affine map. Shapes: x [B,C,...] -> same. */
    public static final class GroupNorm extends Module {
        final Tensor weight, bias;
        final long groups;
        public GroupNorm(long groups, long channels) {
            this.groups = groups;
            weight = param("weight", torch.ones(channels));
            bias = param("bias", torch.zeros(channels));
        }
        public Tensor forward(Tensor x) {
            return torch.group_norm(x, groups, new TensorOptional(weight), new TensorOptional(bias), 1e-5, false);
        }
    }

    /** Layer normalisation over the last dimension. Shapes: x [..., C] -> same. */
    public static final class LayerNorm extends Module {
        final Tensor weight, bias;
        final long dim;
        public LayerNorm(long dim) {
            this.dim = dim;
            weight = param("weight", torch.ones(dim));
            bias = param("bias", torch.zeros(dim));
        }
        public Tensor forward(Tensor x) {
            return torch.layer_norm(x, new long[]{dim}, new TensorOptional(weight), new TensorOptional(bias), 1e-5, false);
        }
    }
}
