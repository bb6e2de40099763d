package dev.add4j.diffusion;

import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Seeded Gaussian noise, one CPU generator per sample, so image i depends only on its own seed: the same seed
 * gives the same image whatever the batch size or the device (noise is drawn on the CPU, then moved).
 */
public final class Noise {
    private final Generator[] gens;

    /** One stream per sample, seeded {@code firstSeed}, {@code firstSeed + 1}, ... */
    public Noise(long firstSeed, int samples) {
        this(consecutive(firstSeed, samples));
    }

    /**
     * One stream per sample with its own seed: a batch that joins several requests (add4j serve) gives each image
     * the noise it would have had alone.
     */
    public Noise(long[] seeds) {
        gens = new Generator[seeds.length];
        for (int i = 0; i < seeds.length; i++) {
            gens[i] = torch.make_generator_cpu(seeds[i]);
            gens[i].retainReference(); // lives as long as this object, not the caller's scope
        }
    }

    private static long[] consecutive(long firstSeed, int samples) {
        long[] seeds = new long[samples];
        for (int i = 0; i < samples; i++) seeds[i] = firstSeed + i;
        return seeds;
    }

    /** Standard normal noise shaped like {@code x} ([B,...] with B = samples), on x's device. */
    public Tensor like(Tensor x) {
        long[] shape = x.sizes().vec().get();
        if (shape[0] != gens.length)
            throw new IllegalArgumentException("noise: batch " + shape[0] + " but " + gens.length + " seeds");
        long[] one = shape.clone();
        one[0] = 1;
        TensorVector parts = new TensorVector();
        for (Generator g : gens) parts.push_back(torch.randn(one, new GeneratorOptional(g)));
        return torch.cat(parts, 0).to(x.device(), x.scalar_type());
    }
}
