package dev.add4j.diffusion;

import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * Image-to-image (SDEdit, Meng et al. 2022; diffusers' img2img pipelines, SD-Turbo's usage): the given image is
 * noised to the first timestep of the sampler's schedule at or below {@code strength x 999}, and the sampler takes
 * its remaining steps from there. The one place of this rule: {@code add4j sample}, the API and the page use it.
 * <ul>
 *   <li>The schedule is {@link Timesteps#trailing}(steps), as for text-to-image: a student's ADD steps (at 4 steps
 *       its own 999, 749, 499, 249), a teacher's DDIM steps.</li>
 *   <li>diffusers' rule: steps x strength >= 1, so at least one step runs (2 steps at strength 0.5 run one step, at
 *       t = 499).</li>
 *   <li>Strength 1 starts at t = 999, where alpha = 0 (zero terminal SNR): x_999 is the noise itself, bit for bit,
 *       so the result is the text-to-image result of the same seeds.</li>
 *   <li>Strength 0 runs no step and returns the input.</li>
 * </ul>
 */
public final class ImageToImage {
    private ImageToImage() {}

    /** Slack for steps x strength >= 1 in floating point: 3 x 0.33333334 passes [choice: exact decimals are rare]. */
    private static final double EPS = 1e-6;

    /**
     * The timesteps that run: the tail of {@code trailing(steps)} from the first one at or below strength x 999;
     * empty for strength 0.
     * @throws IllegalArgumentException for a strength outside 0..1, or steps x strength below 1
     */
    public static List<Integer> timesteps(int steps, double strength) {
        if (!(strength >= 0 && strength <= 1))
            throw new IllegalArgumentException("strength must be in 0..1, got " + strength);
        List<Integer> all = Timesteps.trailing(steps);
        if (strength == 0) return List.of();
        if (steps * strength < 1 - EPS)
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "steps x strength must be >= 1 so that a step runs (diffusers' rule), got %d x %s = %.3g: use steps >= %d or strength >= %.3g",
                    steps, strength, steps * strength, (int) Math.ceil(1 / strength - EPS), 1.0 / steps));
        double tMax = strength * (NoiseSchedule.T - 1);
        for (int i = 0; i < all.size(); i++)
            if (all.get(i) <= tMax + EPS) return all.subList(i, all.size());
        throw new IllegalStateException("no timestep of " + all + " at or below " + tMax); // steps x strength >= 1 rules it out
    }

    /**
     * Samples from {@code init} [B,C,H,W] (in [-1,1], the model's size) with sampler {@code kind}: x_t = alpha_t init
     * + sigma_t eps with eps the first draw of {@code noise} (text-to-image's x_T), then the sampler from t.
     * Returns [B,C,H,W]; at strength 0, {@code init} itself.
     */
    public static Tensor sample(Samplers.Kind kind, Denoiser d, NoiseSchedule s, int steps, double strength, Tensor init,
                                TextCond c, Noise noise) {
        List<Integer> ts = timesteps(steps, strength);
        if (ts.isEmpty()) return init;
        Tensor xT = s.noised(init, noise.like(init), ts.get(0));                 // [B,C,H,W]
        return Samplers.sample(kind, d, s, ts, xT, c, noise);
    }
}
