package dev.add4j.features;

import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The batched image augmentations of feature pretraining, DINO's recipe (Caron et al. 2021, §3 and appendix)
 * cut down to grey 32 px images: random resized crop, horizontal flip, brightness and contrast jitter, and
 * gaussian noise in place of blur. Each sample draws its own random numbers; the whole batch is transformed at
 * once with {@code affine_grid} + {@code grid_sample}, so it runs on the images' device.
 *
 * <p>Randomness comes from a seeded CPU generator of this object (small per-sample tensors, moved to the
 * images' device), so the same seed gives the same views on any device. Not thread-safe.
 *
 * <p>Shapes: x [B,C,S,S] in [-1,1] -> view [B,C,out,out] in [-1,1].
 */
public final class Augment {

    /**
     * Augmentation strengths.
     * @param globalScaleMin smallest area fraction of a global crop (DINO: 0.4)
     * @param globalScaleMax largest area fraction of a global crop (DINO: 1)
     * @param localScaleMin  smallest area fraction of a local crop (DINO: 0.05; 0.1 here [choice]: 32 px images)
     * @param localScaleMax  largest area fraction of a local crop (DINO: 0.4)
     * @param localSize      side of a local view (DINO: 96 of 224; 16 of 32 here [choice])
     * @param maxAspectRatio crop aspect ratios are drawn log-uniformly from [1/max, max] (DINO, torchvision: 4/3)
     * @param flipProb       probability of a horizontal flip (DINO: 0.5)
     * @param brightness     brightness factor drawn from [1 - b, 1 + b] (DINO: 0.4)
     * @param contrast       contrast factor drawn from [1 - c, 1 + c] (DINO: 0.4)
     * @param noiseStdMax    gaussian noise std drawn from [0, max], in units of the [0,1] range
     *                       ([choice]: replaces DINO's blur, which a 32 px image cannot afford)
     */
    public record Config(double globalScaleMin, double globalScaleMax, double localScaleMin, double localScaleMax,
                         int localSize, double maxAspectRatio, double flipProb, double brightness, double contrast,
                         double noiseStdMax) {
        public Config {
            checkRange("global scale", globalScaleMin, globalScaleMax);
            checkRange("local scale", localScaleMin, localScaleMax);
            if (localSize < 1) throw new IllegalArgumentException("Augment: localSize must be >= 1, got " + localSize);
            if (!(maxAspectRatio >= 1)) throw new IllegalArgumentException("Augment: maxAspectRatio must be >= 1, got " + maxAspectRatio);
            if (flipProb < 0 || flipProb > 1) throw new IllegalArgumentException("Augment: flipProb must be in [0,1], got " + flipProb);
            if (brightness < 0 || brightness >= 1 || contrast < 0 || contrast >= 1)
                throw new IllegalArgumentException("Augment: brightness and contrast must be in [0,1), got " + brightness + " and " + contrast);
            if (noiseStdMax < 0) throw new IllegalArgumentException("Augment: noiseStdMax must be >= 0, got " + noiseStdMax);
        }

        private static void checkRange(String what, double lo, double hi) {
            if (!(lo > 0 && lo <= hi && hi <= 1))
                throw new IllegalArgumentException("Augment: " + what + " must satisfy 0 < min <= max <= 1, got [" + lo + ", " + hi + "]");
        }

        /** DINO's strengths, adapted to 32 px Fashion-MNIST where marked in the parameters. */
        public static Config dino() { return new Config(0.4, 1.0, 0.1, 0.4, 16, 4.0 / 3.0, 0.5, 0.4, 0.4, 0.05); }

        /** No randomness at all: every view is the whole image, resized (for tests that need fixed views). */
        public static Config none() { return new Config(1, 1, 1, 1, 16, 1, 0, 0, 0, 0); }
    }

    private final Config cfg;
    private final Generator gen;

    /** Augmentations with the given strengths, drawing from a CPU generator seeded {@code seed}. */
    public Augment(Config cfg, long seed) {
        this.cfg = cfg;
        this.gen = torch.make_generator_cpu(seed);
        gen.retainReference(); // lives as long as this object, not the caller's scope
    }

    /** Restarts the random stream at {@code seed}. */
    public void reseed(long seed) { gen.set_current_seed(seed); }

    /** The strengths. */
    public Config config() { return cfg; }

    /** A global view: a crop of 40-100% of the area, resized back to the input size. x [B,C,S,S] -> [B,C,S,S]. */
    public Tensor globalView(Tensor x) {
        return view(x, cfg.globalScaleMin(), cfg.globalScaleMax(), x.size(2));
    }

    /** A local view: a crop of 10-40% of the area, resized to {@code localSize}. x [B,C,S,S] -> [B,C,l,l]. */
    public Tensor localView(Tensor x) {
        return view(x, cfg.localScaleMin(), cfg.localScaleMax(), cfg.localSize());
    }

    /**
     * iBOT's patch masks, drawn at random patch by patch ([choice]: iBOT masks blocks of patches; an 8x8 grid leaves
     * little room for blocks): each view of each image hides a fraction drawn from [min, max] of its {@code n} patches.
     * @param b view-major rows: {@code views} views of this rank's images, one after the other
     * @return [b,n] bool on the CPU, true where a patch is hidden: on several ranks, its rows of the global batch's
     *         masks, so every image of the batch gets the mask one process would draw
     */
    public Tensor patchMask(int views, long b, long n, double min, double max) {
        Shard shard = Shard.current();
        long all = b * shard.ranks();
        Tensor ratio = torch.rand(new long[]{all, 1}, new GeneratorOptional(gen)).mul(Ops.s(max - min)).add(Ops.s(min)); // [V·B,1]
        return shard.viewRows(torch.rand(new long[]{all, n}, new GeneratorOptional(gen)).lt(ratio), views);           // [b,n]
    }

    /**
     * One augmented view of every image: a random crop of {@code scaleMin..scaleMax} of the area with aspect ratio
     * in [1/maxAspectRatio, maxAspectRatio] resized to {@code outSize}, flipped with probability {@code flipProb}, then brightness and
     * contrast jitter and gaussian noise, clamped to [-1,1]. Gradients flow to {@code x}.
     */
    public Tensor view(Tensor x, double scaleMin, double scaleMax, long outSize) {
        long[] s = Ops.shape(x);
        if (s.length != 4) throw new IllegalArgumentException("x: expected [B,C,H,W], got " + java.util.Arrays.toString(s));
        long b = s[0];
        Tensor u = Shard.current().rand(gen, b, 8).to(x.device(), x.scalar_type()); // [B,8]: this rank's rows of the batch's draw
        // Random resized crop as an affine map from output to input coordinates in [-1,1]: the crop's half-sides
        // are its side fractions w, h, and its centre keeps it inside the image.
        Tensor area = u.select(1, 0).mul(Ops.s(scaleMax - scaleMin)).add(Ops.s(scaleMin));          // [B]
        double logRatio = Math.log(cfg.maxAspectRatio());
        Tensor ratio = u.select(1, 1).mul(Ops.s(2 * logRatio)).sub(Ops.s(logRatio)).exp();           // [B] w/h
        Tensor w = area.mul(ratio).sqrt().clamp_max(Ops.s(1));                                        // [B]
        Tensor h = area.div(ratio).sqrt().clamp_max(Ops.s(1));                                        // [B]
        Tensor cx = w.neg().add(Ops.s(1)).mul(u.select(1, 2).mul(Ops.s(2)).sub(Ops.s(1)));            // [B]
        Tensor cy = h.neg().add(Ops.s(1)).mul(u.select(1, 3).mul(Ops.s(2)).sub(Ops.s(1)));            // [B]
        Tensor flip = u.select(1, 4).lt(Ops.s(cfg.flipProb())).to(x.scalar_type()).mul(Ops.s(-2)).add(Ops.s(1)); // [B] ±1
        Tensor v = crop(x, w, h, cx, cy, flip, outSize);                                              // [B,C,out,out]

        // Photometric jitter in [0,1] units, per sample.
        Tensor y = v.add(Ops.s(1)).mul(Ops.s(0.5));                                                    // [B,C,out,out]
        Tensor bright = u.select(1, 5).mul(Ops.s(2 * cfg.brightness())).add(Ops.s(1 - cfg.brightness())); // [B]
        y = y.mul(Ops.perSample(bright));
        Tensor contrast = u.select(1, 6).mul(Ops.s(2 * cfg.contrast())).add(Ops.s(1 - cfg.contrast())); // [B]
        Tensor mean = y.mean(new long[]{1, 2, 3}, true, new org.bytedeco.pytorch.ScalarTypeOptional()); // [B,1,1,1]
        y = y.sub(mean).mul(Ops.perSample(contrast)).add(mean);
        if (cfg.noiseStdMax() > 0) {
            Tensor std = u.select(1, 7).mul(Ops.s(cfg.noiseStdMax()));                                 // [B]
            Tensor noise = Shard.current().randn(gen, Ops.shape(y)).to(x.device(), x.scalar_type());
            y = y.add(noise.mul(Ops.perSample(std)));
        }
        return y.clamp(new org.bytedeco.pytorch.ScalarOptional(Ops.s(0)), new org.bytedeco.pytorch.ScalarOptional(Ops.s(1)))
                .mul(Ops.s(2)).sub(Ops.s(1));                                                          // [B,C,out,out]
    }

    /**
     * Crops and resizes every image with bilinear sampling: the crop of image i has half-sides {@code w[i]},
     * {@code h[i]} and centre ({@code cx[i]}, {@code cy[i]}) in the [-1,1] coordinates of the image, and is mirrored
     * horizontally where {@code flip[i]} is -1. Border padding: a crop that leaves the image repeats its edge.
     * Shapes: x [B,C,H,W], the others [B] -> [B,C,out,out].
     */
    static Tensor crop(Tensor x, Tensor w, Tensor h, Tensor cx, Tensor cy, Tensor flip, long outSize) {
        long b = x.size(0);
        Tensor zero = torch.zeros_like(w);
        Tensor theta = torch.stack(new TensorVector(w.mul(flip), zero, cx, zero, h, cy), 1).reshape(b, 2, 3); // [B,2,3]
        Tensor grid = torch.affine_grid_generator(theta, new long[]{b, x.size(1), outSize, outSize}, false); // [B,out,out,2]
        return torch.grid_sampler(x, grid, 0, 1, false); // mode 0 = bilinear, padding 1 = border      // [B,C,out,out]
    }
}
