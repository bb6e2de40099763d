package dev.add4j.features;

/**
 * The step-indexed schedules of DINO's training ({@code utils.cosine_scheduler} in their code): pure functions
 * of the step {@code k} in [0, total).
 */
public final class Schedules {
    private Schedules() {}

    /**
     * Linear warm-up from 0 to {@code base} over {@code warmup} steps, then half a cosine from {@code base} down to
     * {@code end} at the last step. DINO's learning-rate schedule.
     */
    public static double warmupCosine(int k, int total, int warmup, double base, double end) {
        if (k < warmup) return base * (k + 1) / warmup;
        return cosine(k - warmup, total - warmup, base, end);
    }

    /** Half a cosine from {@code start} at step 0 to {@code end} at the last step (DINO's teacher momentum, 0.996 -> 1). */
    public static double cosine(int k, int total, double start, double end) {
        if (total <= 1) return end;
        double p = Math.min(1.0, (double) k / (total - 1));
        return end + (start - end) * 0.5 * (1 + Math.cos(Math.PI * p));
    }

    /** Linear from {@code start} to {@code end} over {@code rampSteps} steps, then {@code end} (DINO's teacher-temperature warm-up). */
    public static double linearThenConstant(int k, int rampSteps, double start, double end) {
        if (k >= rampSteps || rampSteps <= 0) return end;
        return start + (end - start) * k / rampSteps;
    }
}
