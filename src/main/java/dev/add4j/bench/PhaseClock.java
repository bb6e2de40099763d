package dev.add4j.bench;

import dev.add4j.add.PhaseTimer;
import dev.add4j.nn.FlopCounter;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Times the phases of one ADD iteration and counts their FLOPs: the {@link PhaseTimer} the bench gives
 * {@link dev.add4j.add.AddStep}. On a GPU, work is queued and runs later, so every reading of the clock waits for
 * the device first. Use from one thread: the FLOP counter is that thread's.
 */
final class PhaseClock implements PhaseTimer {
    /** What the time between the last phase and the end of the step is called. */
    static final String OTHER = "other";

    private final Runnable sync;
    private final Map<String, Double> ms = new LinkedHashMap<>();
    private final Map<String, Long> flops = new LinkedHashMap<>();
    private FlopCounter counter;
    private long start, last, lastFlops;
    private double totalMs;

    /** @param sync waits for the device (a no-op on the CPU) */
    PhaseClock(Runnable sync) { this.sync = sync; }

    /** Starts an iteration: forgets the last one's phases. */
    void begin() {
        ms.clear();
        flops.clear();
        sync.run();
        counter = FlopCounter.start();
        lastFlops = 0;
        start = last = System.nanoTime();
    }

    @Override public void mark(String phase) {
        sync.run();
        long now = System.nanoTime(), f = counter.total();
        ms.merge(phase, (now - last) / 1e6, Double::sum);
        flops.merge(phase, f - lastFlops, Long::sum);
        last = now;
        lastFlops = f;
    }

    /** Ends the iteration; what followed the last mark is {@value #OTHER}. */
    void end() {
        mark(OTHER);
        totalMs = (last - start) / 1e6;
        counter.close();
    }

    /** Milliseconds per phase of the last iteration, in the order first marked. */
    Map<String, Double> ms() { return Map.copyOf(ms); }

    /** FLOPs per phase of the last iteration (forward counted, backward estimated). */
    Map<String, Long> flops() { return Map.copyOf(flops); }

    /** The last iteration's milliseconds, begin to end. */
    double totalMs() { return totalMs; }
}
