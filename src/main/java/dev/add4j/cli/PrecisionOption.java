package dev.add4j.cli;

import dev.add4j.diffusion.Precision;
import picocli.CommandLine.Option;

/** {@code --precision}: the number format of the UNet's passes in sampling (sample, eval, serve, bench). */
public final class PrecisionOption {
    @Option(names = "--precision", paramLabel = "fp32|bf16", defaultValue = "fp32",
            description = "The UNet's number format in sampling: bf16 runs its passes under libtorch's autocast to "
                    + "bfloat16; the sampler's arithmetic and the images stay float32 (default: ${DEFAULT-VALUE}).")
    String precision;

    /** The parsed value; a bad name is one clear error line. */
    public Precision get() { return Precision.parse(precision); }
}
