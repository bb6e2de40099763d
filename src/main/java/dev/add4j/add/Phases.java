package dev.add4j.add;

/**
 * Told by {@link AddStep} where each phase of an iteration begins and ends, so that {@code add4j bench} can time
 * them. The hook never sees the work itself, so a timed step runs the same operations as an untimed one; a clock may
 * add waits for the device, which change no number. {@link #NONE}, the default, does nothing.
 */
public interface Phases {
    /** The phases of one ADD iteration, in the order they run (add-method.md §4). */
    enum Phase {
        /** §4.2: s, ε and x_s, and the heads' condition (c_text, c_img of the real image). */
        NOISED_INPUT,
        /** §4.3: the student's x0 estimate. */
        STUDENT_PASS,
        /** §4.4: L_adv^G, the fakes through the frozen heads. */
        ADVERSARIAL_LOSS,
        /** §4.5: the teacher's target for the re-noised student output, and L_distill. */
        DISTILLATION_LOSS,
        /** The optional regression term (DMD's), on the teacher's pairs. */
        REGRESSION_LOSS,
        /** §4.6: L_G's backward and the student's optimiser step. */
        STUDENT_UPDATE,
        /** §4.7: real and fake logits and the hinge loss. */
        DISCRIMINATOR_LOSS,
        /** §4.7: R1, the gradient of the real logits with respect to the heads' inputs (its graph kept). */
        R1_PENALTY,
        /** §4.7: L_D's backward (hinge and R1 together) and the heads' optimiser step. */
        DISCRIMINATOR_UPDATE
    }

    /** {@code phase} starts now. */
    default void before(Phase phase) {}

    /** {@code phase} has just ended. */
    default void after(Phase phase) {}

    /** No timing. */
    Phases NONE = new Phases() {};
}
