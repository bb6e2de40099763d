package dev.add4j.diffusion;

import dev.add4j.TorchRuntime;
import org.bytedeco.pytorch.Tensor;

import java.util.List;

/**
 * How a model is sampled at a step count: the sampler, its timesteps (high to low) and the UNet's number format.
 * The one place of this rule: {@code add4j sample}, {@code eval}, {@code serve}, {@code bench}, {@code demo} and the
 * training previews all ask it, so a model gives the same image at the same seed whichever of them samples it.
 * <ul>
 *   <li>A teacher: DDIM over {@link Timesteps#trailing}(steps).</li>
 *   <li>A student: ADD's sampler over its own timesteps (those its model file records, what it was trained
 *       on) when it was trained for exactly {@code steps} of them, else over trailing ones (a student trained at
 *       999, 749, 499, 249 sampled at 1 step runs t = 999 only).</li>
 *   <li>Another sampler may be asked for ({@link Samplers.Kind#parse}); a student keeps its own timesteps with it.</li>
 * </ul>
 * @param precision the UNet's passes; float32 unless {@link #with(Precision)} says otherwise
 */
public record SamplingPlan(Samplers.Kind sampler, List<Integer> timesteps, Precision precision) {
    public SamplingPlan {
        timesteps = List.copyOf(timesteps);
        if (precision == null) precision = Precision.FP32;
    }

    /** In float32. */
    public SamplingPlan(Samplers.Kind sampler, List<Integer> timesteps) { this(sampler, timesteps, Precision.FP32); }

    /** The same plan with the UNet's passes in {@code p}. */
    public SamplingPlan with(Precision p) { return new SamplingPlan(sampler, timesteps, p); }

    /**
     * A model's plan with {@code sampler} (null: its own, DDIM for a teacher and ADD for a student); a student keeps its
     * timesteps whatever the sampler. A model file's plan is {@code io.ModelFile.Loaded.plan}.
     * @param own a student's timesteps (null: unknown)
     */
    public static SamplingPlan of(boolean student, List<Integer> own, int steps, Samplers.Kind sampler) {
        return student ? student(own, steps, sampler) : teacher(steps, sampler);
    }

    /** A teacher's plan: {@code sampler} (null: DDIM) over trailing timesteps. */
    public static SamplingPlan teacher(int steps, Samplers.Kind sampler) {
        return new SamplingPlan(sampler != null ? sampler : Samplers.Kind.DDIM, Timesteps.trailing(steps));
    }

    /**
     * A student's plan: {@code sampler} (null: ADD) over {@code own} when it has {@code steps} timesteps, else over
     * trailing ones. For a student without a model file (the training previews), {@code own} from its config.
     * @param own the student's timesteps, or null when unknown
     */
    public static SamplingPlan student(List<Integer> own, int steps, Samplers.Kind sampler) {
        Samplers.Kind kind = sampler != null ? sampler : Samplers.Kind.ADD;
        if (own != null && own.size() == steps) return new SamplingPlan(kind, own);
        return new SamplingPlan(kind, Timesteps.trailing(steps));
    }

    public int steps() { return timesteps.size(); }

    /** "ddim", "add", "euler-a" as the command line spells them. */
    public String samplerName() { return sampler.cliName(); }

    /**
     * The denoiser the sampler calls: {@code model}'s passes in this plan's precision, inside classifier-free
     * guidance at scale {@code guidance} (0 or 1: none, and {@code uncond} is not used). Precision goes inside the
     * guidance, so that its arithmetic stays float32.
     */
    public Denoiser denoiser(Denoiser model, TextCond uncond, double guidance) {
        return Guidance.classifierFree(precision.apply(model), uncond, guidance);
    }

    /** Without guidance. */
    public Denoiser denoiser(Denoiser model) { return precision.apply(model); }

    /**
     * Text-to-image: the plan's sampler over its timesteps from {@code xT} [B,C,H,W]. {@code d} comes from
     * {@link #denoiser}; {@code noise} feeds the stochastic samplers. Returns x0 [B,C,H,W] in the caller's scope.
     * A small batch on the CPU runs on one thread ({@link TorchRuntime#threadsForBatch}).
     */
    public Tensor sample(Denoiser d, NoiseSchedule s, Tensor xT, TextCond c, Noise noise) {
        try (var threads = threadsFor(xT)) {
            return Samplers.sample(sampler, d, s, timesteps, xT, c, noise);
        }
    }

    /** Image-to-image from {@code init} [B,C,H,W] at {@code strength}: {@link ImageToImage#sample} on this plan. */
    public Tensor imageToImage(Denoiser d, NoiseSchedule s, double strength, Tensor init, TextCond c, Noise noise) {
        try (var threads = threadsFor(init)) {
            return ImageToImage.sample(this, d, s, strength, init, c, noise);
        }
    }

    /** The CPU's threads for a batch like {@code x} [B,...]; a GPU's batch leaves them as they are. */
    private static TorchRuntime.Restore threadsFor(Tensor x) {
        return x.is_cuda() ? () -> {} : TorchRuntime.threadsForBatch(x.size(0));
    }
}
