package dev.add4j.nn;

import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/** The basic layers, each a few lines over libtorch's functional ops, initialised as PyTorch does. */
public final class Layers {
    private Layers() {}

    /** Uniform in [-bound, bound), PyTorch's default (Kaiming-uniform with a = sqrt(5)) for fan-in {@code fanIn}. */
    public static Tensor uniform(double bound, long... shape) {
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

    /**
     * Convolution (1-d or 2-d, from the weight's rank) with bias, the same stride and padding on every axis.
     * <p>Works around a oneDNN bug: on the CPU, oneDNN's backward pass gives a wrong gradient of the input (about
     * 30 % relative error, or NaN where the allocator's reused memory held NaN) when the number of output channels
     * is not a multiple of 16 (measured against double precision: 1, 3, 8 and 24 channels wrong, 16, 32 and 64
     * right; {@code LayersTest}). The UNet's last convolution has one channel, so every CPU training step got
     * a corrupted gradient. Its bfloat16 forward pass is wrong for the same widths (relative error 0.34, 0.30,
     * 0.19 and 0.11 for 1, 3, 8 and 24 channels; 16 and 48 right), which bfloat16 sampling runs
     * ({@code diffusion.Precision}). Where either is needed on the CPU with oneDNN on, the weight gets zero output
     * channels up to a multiple of 16 and the output is cut back: the same values, from kernels that are right.
     */
    public static Tensor convolution(Tensor x, Tensor weight, Tensor bias, long stride, long padding) {
        int dims = (int) weight.dim() - 2;
        long out = weight.size(0), extra = (16 - out % 16) % 16;
        boolean inputGrad = x.requires_grad() && GradMode.is_enabled();
        boolean bf16 = x.scalar_type().intern() == torch.ScalarType.BFloat16 || torch.is_autocast_enabled(torch.DeviceType.CPU);
        boolean pad = extra > 0 && (inputGrad || bf16) && x.device().is_cpu() && torch.globalContext().userEnabledMkldnn();
        if (pad) {
            long[] widths = new long[2 * (dims + 1) + 2];      // constant_pad_nd: (before, after) per axis, last axis first
            widths[widths.length - 1] = extra;
            weight = torch.constant_pad_nd(weight, widths, Ops.s(0));
            bias = torch.constant_pad_nd(bias, new long[]{0, extra}, Ops.s(0));
        }
        long[] st = new long[dims], pd = new long[dims], dil = new long[dims];
        java.util.Arrays.fill(st, stride);
        java.util.Arrays.fill(pd, padding);
        java.util.Arrays.fill(dil, 1);
        // conv1d/conv2d, not the generic convolution: the same kernels, but only these are on autocast's list
        // (diffusion.Precision's bfloat16 sampling)
        Tensor y = dims == 1 ? torch.conv1d(x, weight, new TensorOptional(bias), st, pd, dil, 1)
                : torch.conv2d(x, weight, new TensorOptional(bias), st, pd, dil, 1);
        return pad ? y.narrow(1, 0, out) : y;
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
        private Tensor channelsLast;             // the weight channels-last, owned here; null until a small batch needs it
        private long channelsLastVersion = -1, channelsLastAddress;

        public Tensor forward(Tensor x) {
            Tensor y = convolution(x, smallCpuBatch(x) ? channelsLastWeight() : weight, bias, stride, padding);
            FlopCounter.layer(x, weight, y);
            return y;
        }

        /**
         * Whether {@code x} is a float32 batch of up to {@link dev.add4j.TorchRuntime#SMALL_BATCH} images on the CPU
         * without gradients: sampling at batch 1, where oneDNN runs the whole UNet channels-last 12 % faster per image
         * when the weights are (at batch 64 channels-last is 13 % slower; README, "Notes for developers"). Gradients
         * first: a training step is out after one check.
         */
        private static boolean smallCpuBatch(Tensor x) {
            return !GradMode.is_enabled() && x.is_cpu() && x.size(0) <= dev.add4j.TorchRuntime.SMALL_BATCH
                    && x.scalar_type().intern() == torch.ScalarType.Float && !torch.is_autocast_enabled(torch.DeviceType.CPU)
                    && torch.globalContext().userEnabledMkldnn();
        }

        /** The weight channels-last, remade whenever the weight has changed since (an optimiser step, the EMA, a load, a move). */
        private synchronized Tensor channelsLastWeight() {
            long version = weight._version(), address = weight.data_ptr().address();
            if (channelsLast == null || version != channelsLastVersion || address != channelsLastAddress) {
                if (channelsLast != null) channelsLast.releaseReference();
                try (var scope = new org.bytedeco.javacpp.PointerScope()) {
                    channelsLast = weight.detach().contiguous(torch.MemoryFormat.ChannelsLast);
                    channelsLast.retainReference();     // outlives this scope: the module owns it
                }
                channelsLastVersion = version;
                channelsLastAddress = address;
            }
            return channelsLast;
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
