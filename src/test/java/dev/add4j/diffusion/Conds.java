package dev.add4j.diffusion;

import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.global.torch;

/** Test helper: text conditions without the text encoder. */
final class Conds {
    private Conds() {}

    /** A seeded random condition for {@code b} samples: tokens [B,4,384], all-ones mask [B,4], pooled [B,384]. */
    static TextCond random(int b, long seed) {
        Generator g = torch.make_generator_cpu(seed);
        return new TextCond(torch.randn(new long[]{b, 4, 384}, new GeneratorOptional(g)), torch.ones(b, 4),
                torch.randn(new long[]{b, 384}, new GeneratorOptional(g)));
    }
}
