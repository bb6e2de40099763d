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
     * Side of the images every add4j model is trained on and makes: Fashion-MNIST padded to 32 px. [choice] A model
     * file does not record it (its UNet would run at any multiple of 2^levels, and a new config field would stop
     * the shipped files from loading), so it is this one constant; the channels come from the UNet's config.
     */
    public static final int IMAGE_SIZE = 32;

    private final UNet net;
    private final NoiseSchedule schedule;

    public VPredictionModel(UNet net, NoiseSchedule schedule) {
        this.net = net;
        this.schedule = schedule;
    }

    public UNet net() { return net; }
    public NoiseSchedule schedule() { return schedule; }

    /** The shape of {@code b} of this model's images: [b, C, 32, 32], C from the UNet's config. */
    public long[] imageShape(long b) { return new long[]{b, net.config().imageChannels(), IMAGE_SIZE, IMAGE_SIZE}; }

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
