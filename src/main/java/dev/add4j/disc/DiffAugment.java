package dev.add4j.disc;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.add4j.Add4jException;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Differentiable augmentation (Zhao et al. 2020, "DiffAugment", policy colour,translation,cutout), applied to real
 * and generated images alike before the discriminator's feature network (add-method.md §5): the discriminator
 * cannot tell images apart by their augmentations, and gradients flow through it to the generator.
 * Randomness comes from a seeded generator, so a run is reproducible. Images in [-1,1]. Shapes: [B,C,H,W] -> same.
 */
public final class DiffAugment {
    private DiffAugment() {}

    /** Translation: up to this fraction of the side in each direction (DiffAugment: 1/8), zero-padded. */
    public static final double TRANSLATION = 0.125;
    /** Cutout: a square of this fraction of the side (DiffAugment: 1/2), at a random centre, set to 0. */
    public static final double CUTOUT = 0.5;

    /**
     * Which of the three augmentations run: the paper's policy is all three ({@link #ALL}). Written as
     * {@code colour,translation,cutout} (any subset, in any order) or {@code none}.
     */
    public record Policy(boolean colour, boolean translation, boolean cutout) {
        public static final Policy ALL = new Policy(true, true, true), NONE = new Policy(false, false, false);

        /** Parses {@code colour,translation,cutout} (or a subset; {@code color} too) or {@code none}. */
        public static Policy parse(String s) {
            String t = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
            if (t.equals("none")) return NONE;
            boolean c = false, tr = false, cu = false;
            for (String part : t.split(",", -1)) {
                switch (part.trim()) {
                    case "colour", "color" -> c = true;
                    case "translation" -> tr = true;
                    case "cutout" -> cu = true;
                    default -> throw new Add4jException("--diffaugment: expected none or a comma list of colour, "
                            + "translation and cutout, got '" + s + "'");
                }
            }
            return new Policy(c, tr, cu);
        }

        /** From JSON, as {@link #toString} writes it (AddConfig.upgrade reads the boolean of older config.json files). */
        @JsonCreator
        public static Policy fromJson(String v) { return parse(v); }

        @JsonValue
        @Override
        public String toString() {
            List<String> on = new ArrayList<>();
            if (colour) on.add("colour");
            if (translation) on.add("translation");
            if (cutout) on.add("cutout");
            return on.isEmpty() ? "none" : String.join(",", on);
        }
    }

    /** Colour, then translation, then cutout, each drawn per sample from {@code gen} (a CPU generator). */
    public static Tensor apply(Tensor x, Generator gen) {
        return apply(x, Policy.ALL, gen);
    }

    /** The augmentations of {@code policy}, in the order colour, translation, cutout. */
    public static Tensor apply(Tensor x, Policy policy, Generator gen) {
        if (policy.colour()) x = colour(x, gen);
        if (policy.translation()) x = translation(x, gen);
        if (policy.cutout()) x = cutout(x, gen);
        return x;
    }

    /** Brightness ±0.5, saturation ×[0,2] (a no-op on one channel), contrast ×[0.5,1.5], per sample. */
    public static Tensor colour(Tensor x, Generator gen) {
        long b = x.size(0);
        Tensor u = rand(gen, x, b, 3);                                                          // [B,3]
        Tensor y = x.add(Ops.perSample(u.select(1, 0).sub(Ops.s(0.5))));                       // brightness
        Tensor chanMean = y.mean(new long[]{1}, true, new ScalarTypeOptional());                // [B,1,H,W]
        y = y.sub(chanMean).mul(Ops.perSample(u.select(1, 1).mul(Ops.s(2)))).add(chanMean);     // saturation
        Tensor mean = y.mean(new long[]{1, 2, 3}, true, new ScalarTypeOptional());              // [B,1,1,1]
        return y.sub(mean).mul(Ops.perSample(u.select(1, 2).add(Ops.s(0.5)))).add(mean);        // contrast
    }

    /** Shifts each image by a whole number of pixels in [-side/8, side/8] per axis; the uncovered border is 0. */
    public static Tensor translation(Tensor x, Generator gen) {
        long b = x.size(0), h = x.size(2), w = x.size(3);
        long maxShift = Math.round(h * TRANSLATION);
        Tensor shift = Shard.current().randint(-maxShift, maxShift + 1, new long[]{b, 2}, gen)
                .to(x.device(), x.scalar_type());                                               // [B,2] pixels (x,y)
        // grid_sample maps output to input coordinates; in [-1,1] units one pixel is 2/side.
        Tensor tx = shift.select(1, 0).mul(Ops.s(-2.0 / w)), ty = shift.select(1, 1).mul(Ops.s(-2.0 / h)); // [B]
        Tensor one = torch.ones_like(tx), zero = torch.zeros_like(tx);
        Tensor theta = torch.stack(new TensorVector(one, zero, tx, zero, one, ty), 1).reshape(b, 2, 3); // [B,2,3]
        Tensor grid = torch.affine_grid_generator(theta, new long[]{b, x.size(1), h, w}, false);        // [B,H,W,2]
        return torch.grid_sampler(x, grid, 1, 0, false); // mode 1 = nearest (whole pixels), padding 0 = zeros
    }

    /** Sets a square of side·{@value #CUTOUT} at a random centre of each image to 0 (clipped at the border). */
    public static Tensor cutout(Tensor x, Generator gen) {
        long b = x.size(0), h = x.size(2), w = x.size(3);
        long half = Math.round(h * CUTOUT / 2);
        Tensor centre = Shard.current().rand(gen, b, 2).mul(Ops.s(h)).floor()
                .to(x.device(), x.scalar_type());                                               // [B,2] (cy,cx)
        Tensor rows = torch.arange(Ops.s(h)).to(x.device(), x.scalar_type()).reshape(1, h, 1);  // [1,H,1]
        Tensor cols = torch.arange(Ops.s(w)).to(x.device(), x.scalar_type()).reshape(1, 1, w);  // [1,1,W]
        Tensor cy = centre.select(1, 0).reshape(b, 1, 1), cx = centre.select(1, 1).reshape(b, 1, 1);
        Tensor inRows = rows.sub(cy).abs().lt(Ops.s(half)), inCols = cols.sub(cx).abs().lt(Ops.s(half)); // [B,H,1], [B,1,W]
        Tensor keep = inRows.logical_and(inCols).logical_not().to(x.scalar_type()).unsqueeze(1); // [B,1,H,W]
        return x.mul(keep);
    }

    private static Tensor rand(Generator gen, Tensor like, long... shape) {
        return Shard.current().rand(gen, shape).to(like.device(), like.scalar_type());
    }
}
