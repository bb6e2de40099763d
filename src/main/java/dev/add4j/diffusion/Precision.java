package dev.add4j.diffusion;

import dev.add4j.Add4jException;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.Locale;

/**
 * The number format of the denoiser's passes when sampling. {@link #BF16} runs each pass under libtorch's autocast
 * to bfloat16 on the input's device (convolutions, linear layers and matrix products in bfloat16 with float32
 * sums; norms and softmax read bfloat16 and sum in float32), and hands the sampler a float32 x0, so its arithmetic
 * and the images stay float32. [choice] FP32 by default: the shipped models' metrics were measured in it.
 */
public enum Precision {
    FP32, BF16;

    /** The command-line name: "fp32" or "bf16". */
    public String cliName() { return name().toLowerCase(Locale.ROOT); }

    /** Parses "fp32" or "bf16" (any case); anything else is one clear error line. */
    public static Precision parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "fp32", "float32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new Add4jException("--precision: expected fp32 or bf16, got '" + name + "'");
        };
    }

    /** {@code d} itself in FP32; in BF16, {@code d} with every pass under autocast to bfloat16, x0 back in float32. */
    public Denoiser apply(Denoiser d) {
        if (this == FP32) return d;
        return new Denoiser() {
            @Override public Tensor x0(Tensor xT, Tensor t, TextCond c) { return autocast(xT, () -> d.x0(xT, t, c)); }

            // d's own one-timestep path: a model's plain-number maths differs under autocast from its per-sample one
            @Override public Tensor x0(Tensor xT, int t, TextCond c) { return autocast(xT, () -> d.x0(xT, t, c)); }
        };
    }

    /**
     * Runs {@code body} under autocast to bfloat16 on {@code like}'s device and returns its result as float32. The
     * autocast state of this thread is restored afterwards; the cast cache is off, so that a network whose weights
     * change between calls (the EMA student in training) is never read from stale bfloat16 copies.
     */
    static Tensor autocast(Tensor like, java.util.function.Supplier<Tensor> body) {
        torch.DeviceType type = like.device().type();
        boolean wasOn = torch.is_autocast_enabled(type), wasCache = torch.is_autocast_cache_enabled();
        torch.ScalarType wasType = torch.get_autocast_dtype(type);
        torch.set_autocast_dtype(type, torch.ScalarType.BFloat16);
        torch.set_autocast_enabled(type, true);
        torch.set_autocast_cache_enabled(false);
        try {
            return body.get().to(torch.ScalarType.Float);
        } finally {
            torch.set_autocast_enabled(type, wasOn);
            torch.set_autocast_dtype(type, wasType);
            torch.set_autocast_cache_enabled(wasCache);
        }
    }
}
