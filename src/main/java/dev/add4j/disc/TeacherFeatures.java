package dev.add4j.disc;

import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.dist.Shard;
import dev.add4j.nn.UNet;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * A discriminator backbone from the frozen teacher itself [not in ADD: LADD, Sauer et al. 2024, the method of
 * SD3-Turbo]: each image is noised to t ~ U[0, tMax] and the teacher's encoder (down path and middle) read at
 * {@value #TAPS} of its deepest-width blocks, under the image's caption. A diffusion model's features know the data
 * it was trained on, at every scale the noise level leaves, where a small ViT pretrained on 32 px images knows little.
 * Gradients flow back to the images, never into the teacher.
 * <p>Shapes: images [B,C,H,W] -> {@value #TAPS} head inputs [B,C_mid,N] (N = H_k·W_k tokens, row-major).
 */
public final class TeacherFeatures {
    /** Feature maps read, evenly spaced over the blocks of the deepest width (StyleGAN-T's ViT: 5 taps). */
    public static final int TAPS = 5;
    private final VPredictionModel teacher;
    private final int tMax;
    private final List<Integer> taps;

    /** @param tMax largest noise level (0: clean images only) */
    public TeacherFeatures(VPredictionModel teacher, int tMax) {
        this.teacher = teacher;
        this.tMax = tMax;
        this.taps = taps(teacher.net());
    }

    /** Channels of every head input. */
    public long width() { return teacher.net().midChannels(); }

    /** How many head inputs: one per tap. */
    public int heads() { return taps.size(); }

    /** The blocks read: up to {@value #TAPS} indices into {@link UNet#encoderFeatures}, evenly spaced over those of the mid width. */
    static List<Integer> taps(UNet net) {
        List<Integer> wide = new ArrayList<>(), channels = net.encoderChannels();
        for (int i = 0; i < channels.size(); i++) if (channels.get(i) == net.midChannels()) wide.add(i);
        if (wide.size() <= TAPS) return List.copyOf(wide);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < TAPS; i++) out.add(wide.get((int) Math.round(i * (wide.size() - 1) / (double) (TAPS - 1))));
        return List.copyOf(out);
    }

    /** The head inputs of a batch of images under their captions, noised with draws from {@code gen}. */
    public List<Tensor> headInputs(Tensor images, TextCond text, Generator gen) {
        long b = images.size(0);
        Tensor t = Shard.current().randint(0, tMax + 1L, new long[]{b}, gen).to(images.device(), torch.ScalarType.Long); // [B]
        Tensor eps = Shard.current().randn(gen, dev.add4j.nn.Ops.shape(images)).to(images.device(), torch.ScalarType.Float);
        Tensor xT = teacher.schedule().noised(images, eps, t);                                                    // [B,C,H,W]
        List<Tensor> maps = teacher.net().encoderFeatures(xT, t, text.tokens(), text.mask(), text.pooled());
        List<Tensor> out = new ArrayList<>(taps.size());
        for (int k : taps) out.add(maps.get(k).flatten(2, 3));                                                    // [B,C,N]
        return out;
    }
}
