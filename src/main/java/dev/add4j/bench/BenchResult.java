package dev.add4j.bench;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code add4j bench} measured, as {@code --json} writes it. Times are wall-clock milliseconds; a GFLOP is
 * 10⁹ floating-point operations counted from the layer shapes actually run ({@link dev.add4j.nn.FlopCounter}).
 *
 * @param device     where it ran ("cpu", "cuda")
 * @param threads    libtorch's intra-op threads
 * @param precision  the UNet's number format in the sampling rows: "fp32" or "bf16" (training: fp32)
 * @param models     the networks timed
 * @param primitives a large matrix multiply and the cost of one trivial libtorch call
 * @param inference  one row per (model, steps, batch), in the order run
 * @param speedups   the student at its fewest steps against the teacher, at each batch
 * @param training   one ADD iteration split by phase
 * @param notes      what to keep in mind when reading the numbers
 * @param provenance command, git commit, time, Java, OS, libtorch
 */
public record BenchResult(String device, int threads, String precision, Models models, Primitives primitives, List<InferenceRow> inference, List<Speedup> speedups,
                          Training training, List<String> notes, Map<String, String> provenance) {
    public BenchResult {
        inference = List.copyOf(inference);
        speedups = List.copyOf(speedups);
        notes = List.copyOf(notes);
        provenance = Collections.unmodifiableMap(new LinkedHashMap<>(provenance)); // in the order given
    }

    /**
     * The networks.
     * @param student          the student's file
     * @param studentStandIn   true when no student exists yet and the teacher's network is sampled as the student
     *                         (the same UNet with the student's sampler: the same cost)
     * @param teacher          the teacher's file
     * @param features         the discriminator's feature ViT file, or a description of the randomly initialised
     *                         stand-in (the same architecture costs the same whatever its weights)
     * @param unetParameters   parameters of the student's UNet
     * @param unetGflopPerPass forward GFLOP of one UNet pass on one image
     */
    public record Models(String student, @JsonProperty("student_stand_in") boolean studentStandIn, String teacher, String features,
                         @JsonProperty("unet_parameters") long unetParameters,
                         @JsonProperty("unet_gflop_per_pass") double unetGflopPerPass) {}

    /**
     * Sampling one batch: noise, every denoiser pass and the sampler's updates, and the copy of the images to the
     * CPU (which waits for a GPU to finish). The text condition is encoded once, outside the timing.
     * @param model       "student" or "teacher"
     * @param sampler     "add" or "ddim"
     * @param steps       denoiser passes per image
     * @param batch       images per run
     * @param runs        timed runs (after the warm-up)
     * @param msMedian    median time of one run
     * @param msMin       fastest run
     * @param msPerImage  msMedian / batch
     * @param imagesPerS  batch / msMedian, per second
     * @param gflop       counted GFLOP of one run (the UNet passes)
     * @param gflopPerS   gflop / msMedian, per second
     */
    public record InferenceRow(String model, String sampler, int steps, int batch, int runs,
                               @JsonProperty("ms_median") double msMedian, @JsonProperty("ms_min") double msMin,
                               @JsonProperty("ms_per_image") double msPerImage, @JsonProperty("images_per_s") double imagesPerS,
                               double gflop, @JsonProperty("gflop_per_s") double gflopPerS) {}

    /**
     * Below the model: what one large product achieves and what one call costs.
     * @param mmSide            side of the square float32 matrices of torch.mm
     * @param mmGflopPerS       2 mmSide³ / the median time, per second
     * @param blasThreads       OpenBLAS's threads (TorchRuntime sets them)
     * @param opMicrosNoGrad    microseconds per trivial op (adding one-element tensors) under NoGradGuard, as sampling runs
     * @param opMicrosInference the same under InferenceMode
     */
    public record Primitives(@JsonProperty("mm_side") int mmSide, @JsonProperty("mm_gflop_per_s") double mmGflopPerS,
                             @JsonProperty("blas_threads") int blasThreads,
                             @JsonProperty("op_us_no_grad") double opMicrosNoGrad,
                             @JsonProperty("op_us_inference") double opMicrosInference) {}

    /** Teacher time per image / student time per image at one batch size. */
    public record Speedup(int batch, @JsonProperty("student_steps") int studentSteps,
                          @JsonProperty("teacher_steps") int teacherSteps, double speedup) {}

    /**
     * One ADD iteration (student update, then discriminator update), the EMA and data loading excluded.
     * @param batch              images per iteration
     * @param iterations         timed iterations of each kind (after the warm-up)
     * @param msPerIteration     median of iterations run as in training (phases not timed)
     * @param msPerIterationTimed median of iterations with the phases timed (a device sync at every phase boundary,
     *                           R1's backward apart from the hinge's); the phases add up to it
     * @param gflop              GFLOP of one iteration, all phases
     * @param gflopPerS          gflop / msPerIterationTimed, per second
     * @param phases             student, teacher, discriminator, r1, other
     */
    public record Training(int batch, int iterations,
                           @JsonProperty("ms_per_iteration") double msPerIteration,
                           @JsonProperty("ms_per_iteration_timed") double msPerIterationTimed,
                           double gflop, @JsonProperty("gflop_per_s") double gflopPerS, List<Phase> phases) {
        public Training { phases = List.copyOf(phases); }
    }

    /**
     * One phase of an ADD iteration.
     * @param phase     "student" (its forward, the adversarial loss's forward through F and the heads, the backward
     *                  into the student, its Adam step), "teacher" (the distillation target), "discriminator" (F on
     *                  real and fake images, the heads, the hinge's backward, the heads' Adam step), "r1" (the
     *                  gradient penalty: first-order gradient and its backward), "other" (the rest: statistics,
     *                  freeing the iteration's tensors)
     * @param ms        median over the timed iterations
     * @param share     ms / the timed iteration's median
     * @param gflop     forward GFLOP counted in the phase plus the estimated backward (see FlopCounter); for r1 an
     *                  estimate, 3 x the heads' forward on the real batch
     * @param gflopPerS gflop / ms, per second
     */
    public record Phase(String phase, double ms, double share, double gflop, @JsonProperty("gflop_per_s") double gflopPerS) {}
}
