package dev.add4j.add;

/**
 * Told by {@link AddStep} where one phase of an iteration ends, so that {@code add4j bench} can time the phases.
 * {@link #NONE}, the default, does nothing, and the step then runs exactly as it does in training.
 */
@FunctionalInterface
public interface PhaseTimer {
    /** Phases of an ADD iteration, as {@link #mark} names them. */
    String STUDENT = "student", TEACHER = "teacher", DISCRIMINATOR = "discriminator", R1 = "r1";

    /** The work since the previous mark (or since the step began) belongs to {@code phase}. */
    void mark(String phase);

    /** No timing. */
    PhaseTimer NONE = phase -> {};
}
