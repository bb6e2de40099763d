package dev.add4j.cli;

import dev.add4j.Add4jException;
import picocli.CommandLine.Option;

/**
 * The cap on images one command makes: a typo such as {@code --n 1000000000}, or a prompt file far longer than
 * meant, is refused at once with the count, instead of running for hours or out of memory.
 */
final class ImageCap {
    /** [choice] 10,000: the most any shipped command line makes (eval's n-2000 rows), five times over. */
    static final int DEFAULT = 10_000;

    @Option(names = "--max-images", defaultValue = "" + DEFAULT, paramLabel = "N",
            description = "Refuse to make more than N images in this command (default: ${DEFAULT-VALUE}).")
    long max;

    /** @param how how the count arises, for the message, e.g. "--n 16 x 3 prompts" */
    void check(long images, String how) {
        if (max < 1) throw new Add4jException("--max-images must be >= 1, got " + max);
        if (images > max)
            throw new Add4jException(how + " = " + images + " images, more than the " + max
                    + " one command makes; pass --max-images " + images + " to make them anyway");
    }

    /** A guidance scale as sample and eval take it: finite, from 0 (none) to 100. */
    static void checkGuidance(double guidance) {
        if (!(guidance >= 0 && guidance <= 100)) // NaN fails too
            throw new Add4jException("--guidance must be a number from 0 to 100 (0 or 1: none), got " + guidance);
    }
}
