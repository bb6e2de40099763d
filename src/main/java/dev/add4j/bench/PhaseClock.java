package dev.add4j.bench;

import dev.add4j.add.Phases;
import dev.add4j.nn.FlopCounter;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Times the phases of one ADD iteration and counts their FLOPs: the {@link Phases} hook the bench gives
 * {@link dev.add4j.add.AddStep}. The step's phases are reported in four groups, plus {@value #OTHER} for the time
 * between them. On a GPU, work is queued and runs later, so every reading of the clock waits for the device first.
 * Use from one thread: the FLOP counter is that thread's.
 */
final class PhaseClock implements Phases {
    /** The groups, in the order the bench reports them. */
    static final String STUDENT = "student", TEACHER = "teacher", DISCRIMINATOR = "discriminator", R1 = "r1", OTHER = "other";
    static final List<String> GROUPS = List.of(STUDENT, TEACHER, DISCRIMINATOR, R1, OTHER);

    /**
     * The group of a step's phase: the teacher's work is the distillation loss; the discriminator's update holds R1's
     * backward too, since training runs one backward pass for the hinge and R1; the heads' condition, made with the
     * noised input, counts as the student's.
     */
    static String group(Phase p) {
        return switch (p) {
            case NOISED_INPUT, STUDENT_PASS, ADVERSARIAL_LOSS, REGRESSION_LOSS, STUDENT_UPDATE -> STUDENT;
            case DISTILLATION_LOSS -> TEACHER;
            case DISCRIMINATOR_LOSS, DISCRIMINATOR_UPDATE -> DISCRIMINATOR;
            case R1_PENALTY -> R1;
        };
    }

    private final Runnable sync;
    private final Map<String, Double> ms = new HashMap<>();
    private final Map<String, Long> flops = new HashMap<>();
    private FlopCounter counter;
    private long start, phaseStart, phaseStartFlops;
    private double totalMs;

    /** @param sync waits for the device (a no-op on the CPU) */
    PhaseClock(Runnable sync) { this.sync = sync; }

    /** Starts an iteration: forgets the last one's phases. */
    void begin() {
        ms.clear();
        flops.clear();
        sync.run();
        counter = FlopCounter.start();
        start = System.nanoTime();
    }

    @Override public void before(Phase phase) {
        sync.run();
        phaseStart = System.nanoTime();
        phaseStartFlops = counter.total();
    }

    @Override public void after(Phase phase) {
        sync.run();
        ms.merge(group(phase), (System.nanoTime() - phaseStart) / 1e6, Double::sum);
        flops.merge(group(phase), counter.total() - phaseStartFlops, Long::sum);
    }

    /** Ends the iteration; what ran outside every phase is {@value #OTHER}. */
    void end() {
        sync.run();
        totalMs = (System.nanoTime() - start) / 1e6;
        ms.put(OTHER, totalMs - ms.values().stream().mapToDouble(Double::doubleValue).sum());
        flops.put(OTHER, counter.total() - flops.values().stream().mapToLong(Long::longValue).sum());
        counter.close();
    }

    /** Milliseconds per group of the last iteration. */
    Map<String, Double> ms() { return Map.copyOf(ms); }

    /** FLOPs per group of the last iteration (forward counted, backward estimated). */
    Map<String, Long> flops() { return Map.copyOf(flops); }

    /** The last iteration's milliseconds, begin to end. */
    double totalMs() { return totalMs; }
}
