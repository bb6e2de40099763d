package dev.add4j.train;

import java.util.Map;

/**
 * A part of a training run: so many iterations of one kind (ADD's ODE warm-up, its discriminator warm-up, ADD
 * itself; a teacher's or a feature network's one kind). {@link TrainLoop} runs a run's stages one after the other.
 *
 * @param name         what progress lines call it ("ode-warmup", "disc-warmup", "add", "teacher")
 * @param steps        its iterations (0: skipped)
 * @param step         one iteration
 * @param trainsModel  whether the model the run ships learns in it: sample grids and evaluations skip a stage where it
 *                     does not (the discriminator's warm-up)
 * @param finish       run once after its last iteration, to free what only it needs (the warm-up's pairs)
 */
public record Stage(String name, long steps, Step step, boolean trainsModel, Runnable finish) {

    /**
     * One iteration {@code s}, counted from the run's first (0-based). Returns its statistics as Java numbers (a
     * statistic may be left out of an iteration); what tensors it makes are freed by the loop's scope at the latest.
     */
    @FunctionalInterface public interface Step { Map<String, Double> run(long s); }

    public Stage {
        if (steps < 0) throw new IllegalArgumentException("stage " + name + ": steps must be >= 0, got " + steps);
    }

    /** A stage in which the model learns and that leaves nothing to free. */
    public static Stage of(String name, long steps, Step step) { return new Stage(name, steps, step, true, () -> {}); }

    /** This stage, with {@code f} run after its last iteration. */
    public Stage finishing(Runnable f) { return new Stage(name, steps, step, trainsModel, f); }

    /** This stage, in which the shipped model does not change, so nothing is sampled or measured. */
    public Stage modelFrozen() { return new Stage(name, steps, step, false, finish); }
}
