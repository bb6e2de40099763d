package dev.add4j.diffusion;

import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A UNet that predicts v, seen as a denoiser: x0 = alpha_t x_t - sigma_t v (add-method.md §3). Used for the teacher
 * and the student alike.
 */
public final class VPredictionModel implements Denoiser {
    /**
     * Side of Fashion-MNIST padded to 32 px: the size of the shipped models, and of a model file that records none
     * (files written before colour and 64 px came in, issue 20).
     */
    public static final int DEFAULT_IMAGE_SIZE = 32;
    /** Largest side a model may make [choice: attention at 1/4 resolution of 256 px is 4096 tokens, near a CPU's memory]. */
    public static final int MAX_IMAGE_SIZE = 256;

    private final UNet net;
    private final NoiseSchedule schedule;
    private final int imageSize;

    /** A model of {@code imageSize} px square images, its channels those of the UNet's config. */
    public VPredictionModel(UNet net, NoiseSchedule schedule, int imageSize) {
        checkImageSize(net.config(), imageSize);
        this.net = net;
        this.schedule = schedule;
        this.imageSize = imageSize;
    }

    /** A model of {@value #DEFAULT_IMAGE_SIZE} px images. */
    public VPredictionModel(UNet net, NoiseSchedule schedule) { this(net, schedule, DEFAULT_IMAGE_SIZE); }

    /**
     * Refuses a side the UNet cannot run at: each level after the first halves it, so it must be a multiple of
     * 2^(levels-1), and at most {@value #MAX_IMAGE_SIZE}.
     */
    public static void checkImageSize(UNet.Config c, int size) {
        int step = 1 << (c.channelMults().size() - 1);
        if (size < step || size > MAX_IMAGE_SIZE || size % step != 0)
            throw new IllegalArgumentException("image size must be a multiple of " + step + " (the UNet's " + c.channelMults().size()
                    + " levels) up to " + MAX_IMAGE_SIZE + ", got " + size);
    }

    public UNet net() { return net; }
    public NoiseSchedule schedule() { return schedule; }
    /** Channels C of the images. */
    public int channels() { return net.config().imageChannels(); }
    /** Side H = W of the images. */
    public int imageSize() { return imageSize; }
    /** "1 x 32 px", "3 x 64 px": the shape in error messages. */
    public String describeShape() { return channels() + " x " + imageSize + " px"; }

    /** The shape of {@code b} of this model's images: [b, C, S, S], C from the UNet's config. */
    public long[] imageShape(long b) { return new long[]{b, channels(), imageSize, imageSize}; }

    /** v prediction for per-sample timesteps t [B]. */
    public Tensor v(Tensor xT, Tensor t, TextCond c) {
        return net.forward(xT, t, c.tokens(), c.mask(), c.pooled());
    }

    /** x0 estimate for per-sample timesteps t [B]. */
    @Override
    public Tensor x0(Tensor xT, Tensor t, TextCond c) {
        return Prediction.x0FromV(xT, v(xT, t, c), schedule.alpha(t, xT), schedule.sigma(t, xT));
    }

    /**
     * One timestep for the batch, alpha_t and sigma_t as plain numbers. In float32 this gives the per-sample path's
     * numbers bit for bit; under bf16 autocast it does not (a plain number keeps a bfloat16 v in bfloat16, a float32
     * [B,1,1,1] tensor promotes it), and the shipped models' bf16 sampling was measured on this path.
     */
    @Override
    public Tensor x0(Tensor xT, int t, TextCond c) {
        Tensor tt = torch.full(new long[]{xT.size(0)}, Ops.s(t), Ops.longOn(xT.device()));
        Tensor v = v(xT, tt, c);
        return xT.mul(Ops.s(schedule.alpha(t))).sub(v.mul(Ops.s(schedule.sigma(t))));
    }
}
