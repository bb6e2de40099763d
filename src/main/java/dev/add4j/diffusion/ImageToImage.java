package dev.add4j.diffusion;

import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * Image-to-image (SDEdit, Meng et al. 2022; diffusers' img2img pipelines, SD-Turbo's usage): the given image is
 * noised to the first timestep of the sampler's schedule at or below {@code strength x 999}, and the sampler takes
 * its remaining steps from there. The one place of this rule: {@code add4j sample}, the API and the page use it.
 * <ul>
 *   <li>The schedule is the {@link SamplingPlan}'s, as for text-to-image: a teacher's DDIM steps over
 *       {@link Timesteps#trailing}(steps), a student's ADD steps (its own timesteps at its own step count, so a
 *       default student at 4 steps runs its 999, 749, 499, 249; trailing ones at other counts).</li>
 *   <li>diffusers' rule: steps x strength >= 1, so at least one step runs (2 steps at strength 0.5 run one step, at
 *       t = 499). On trailing timesteps that rule is enough; a student's own timesteps need not be spread evenly,
 *       so a strength can pass it and still start below their last one (999, 899, 799, 699 at strength 0.5): no
 *       step would run, and that is refused too, naming the least strength that runs one. Strength is then coarse
 *       for such a student: strengths 0.7 to 0.79 all run the one step at 699.</li>
 *   <li>Strength 1 starts at t = 999, where alpha = 0 (zero terminal SNR): x_999 is the noise itself, bit for bit,
 *       so the result is the text-to-image result of the same seeds (every plan starts at 999).</li>
 *   <li>Strength 0 runs no step and returns the input.</li>
 * </ul>
 */
public final class ImageToImage {
    private ImageToImage() {}

    /** Slack for steps x strength >= 1 in floating point: 3 x 0.33333334 passes [choice: exact decimals are rare]. */
    private static final double EPS = 1e-6;

    /** {@link #timesteps(List, double)} on {@code trailing(steps)}: a teacher's, and a student's at a count not its own. */
    public static List<Integer> timesteps(int steps, double strength) {
        return timesteps(Timesteps.trailing(steps), strength);
    }

    /**
     * The timesteps that run: the tail of {@code planned} (high to low, from 999) from the first one at or below
     * strength x 999; empty for strength 0.
     * @throws IllegalArgumentException for a strength outside 0..1, steps x strength below 1, or a strength below
     *                                  the plan's last timestep (no step would run)
     */
    public static List<Integer> timesteps(List<Integer> planned, double strength) {
        if (!(strength >= 0 && strength <= 1))
            throw new IllegalArgumentException("strength must be in 0..1, got " + strength);
        if (strength == 0) return List.of();
        int steps = planned.size();
        if (steps * strength < 1 - EPS)
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "steps x strength must be >= 1 so that a step runs (diffusers' rule), got %d x %s = %.3g: use steps >= %d or strength >= %.3g",
                    steps, strength, steps * strength, (int) Math.ceil(1 / strength - EPS), 1.0 / steps));
        double tMax = strength * (NoiseSchedule.T - 1);
        for (int i = 0; i < steps; i++)
            if (planned.get(i) <= tMax + EPS) return planned.subList(i, steps);
        int last = planned.get(steps - 1);   // only a plan that is not trailing gets here: steps x strength >= 1 rules it out there
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                "strength %s starts at t <= %.1f, below the last of the model's timesteps %s: no step would run; use strength >= %.3f",
                strength, tMax, planned, Math.ceil((double) last / (NoiseSchedule.T - 1) * 1000) / 1000));
    }

    /**
     * Samples from {@code init} [B,C,H,W] (in [-1,1], the model's size) as {@code plan} says: x_t = alpha_t init
     * + sigma_t eps with eps the first draw of {@code noise} (text-to-image's x_T), then the plan's sampler from t.
     * {@code d} comes from {@link SamplingPlan#denoiser}. Returns [B,C,H,W]; at strength 0, {@code init} itself.
     */
    public static Tensor sample(SamplingPlan plan, Denoiser d, NoiseSchedule s, double strength, Tensor init,
                                TextCond c, Noise noise) {
        List<Integer> ts = timesteps(plan.timesteps(), strength);
        if (ts.isEmpty()) return init;
        Tensor xT = s.noised(init, noise.like(init), ts.get(0));                 // [B,C,H,W]
        return Samplers.sample(plan.sampler(), d, s, ts, xT, c, noise);
    }
}
