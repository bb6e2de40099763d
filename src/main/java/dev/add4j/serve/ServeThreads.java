package dev.add4j.serve;

import dev.add4j.TorchRuntime;

import java.util.function.IntUnaryOperator;

/**
 * How many libtorch threads the server samples a batch on, where {@code --threads} does not say. A 1-step image at
 * batch 1 is no faster on 2 threads than on 1 here (13.8 against 14.8-16.3 ms, 2 quiet cores), and the round trip also
 * needs a core for HTTP, JSON, PNG and the collector: sampled on every core, the last 5 % of requests waited for them
 * (README, "Notes for developers", serving). A batch of many images, made when requests queue up, gains from every core.
 */
public final class ServeThreads {
    private ServeThreads() {}

    /** Every core but one for batches of up to {@link TorchRuntime#SMALL_BATCH} images, else every core (of {@code cores}). */
    public static IntUnaryOperator leavingOneCoreFreeForSmallBatches(int cores) {
        return images -> images <= TorchRuntime.SMALL_BATCH ? Math.max(1, cores - 1) : cores;
    }
}
