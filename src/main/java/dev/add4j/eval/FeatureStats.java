package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The first two moments of a feature set, all that the Fréchet distance needs: the mean and the unbiased (N-1)
 * covariance, in float64 on the CPU. Computing them once for the 10k real test images and caching them to a
 * file saves a pass over the data on every evaluation.
 *
 * <p>Shapes: mean [D], cov [D,D]. The tensors belong to the caller's scope.
 *
 * @param mean float64 [D]
 * @param cov  float64 [D,D], symmetric positive semi-definite
 * @param n    number of feature vectors they were computed from
 */
public record FeatureStats(Tensor mean, Tensor cov, long n) {
    /** Metadata key of the sample count in a stats file. */
    static final String N_KEY = "feature_stats.n";

    public FeatureStats {
        Ops.expectShape(mean, "mean", -1);
        Ops.expectShape(cov, "cov", mean.size(0), mean.size(0));
        if (n < 2) throw new IllegalArgumentException("FeatureStats: need at least 2 samples for a covariance, got " + n);
    }

    /** Feature dimension D. */
    public long dim() { return mean.size(0); }

    /**
     * Mean and N-1 covariance of {@code features} [N,D] (N >= 2, any device and float dtype), computed in float64.
     * @throws IllegalArgumentException for a wrong shape, fewer than 2 rows, or non-finite values
     */
    public static FeatureStats of(Tensor features) {
        Tensor x = MetricInputs.features(features, "features", 2);                                  // [N,D] f64
        long n = x.size(0);
        Tensor mean = x.mean(new long[]{0}, false, new ScalarTypeOptional());                     // [D]
        Tensor centred = x.sub(mean);                                                               // [N,D]
        Tensor cov = centred.t().mm(centred).div(Ops.s(n - 1));                                     // [D,D]
        Device cpu = new Device("cpu");                                    // computed where the features are, kept on the CPU
        return new FeatureStats(mean.to(cpu, torch.ScalarType.Double), cov.to(cpu, torch.ScalarType.Double), n);
    }

    /**
     * Writes the statistics to a safetensors file, atomically. float64 is kept exactly enough by storing each
     * tensor as two float32 parts, hi = (float) v and lo = (float) (v - hi), whose sum restores about 48 bits:
     * the format's writer stores floats as F32 at most, and FID subtracts large, nearly equal traces.
     * @param metadata extra string pairs (what the features are of); may be empty
     */
    public void save(Path file, Map<String, String> metadata) {
        try (var scope = new PointerScope()) {
            Map<String, Tensor> t = new LinkedHashMap<>();
            split("mean", mean, t);
            split("cov", cov, t);
            Map<String, String> meta = new LinkedHashMap<>(metadata);
            meta.put(N_KEY, Long.toString(n));
            SafeTensors.write(file, t, meta, SafeTensors.Dtype.F32);
        }
    }

    private static void split(String name, Tensor v, Map<String, Tensor> out) {
        Tensor hi = v.to(torch.ScalarType.Float);
        out.put(name + ".hi", hi);
        out.put(name + ".lo", v.sub(hi.to(torch.ScalarType.Double)).to(torch.ScalarType.Float));
    }

    /**
     * Reads statistics written by {@link #save}.
     * @throws Add4jException when the file is missing or does not hold feature statistics
     */
    public static FeatureStats load(Path file) {
        SafeTensors.Contents c = SafeTensors.read(file);
        String n = c.metadata().get(N_KEY);
        for (String k : new String[]{"mean.hi", "mean.lo", "cov.hi", "cov.lo"})
            if (!c.tensors().containsKey(k) || n == null)
                throw new Add4jException(file + ": not a feature-statistics file (needs tensors mean.hi/lo, cov.hi/lo and '" + N_KEY + "')");
        try {
            return new FeatureStats(join(c.tensors(), "mean"), join(c.tensors(), "cov"), Long.parseLong(n));
        } catch (IllegalArgumentException e) {
            throw new Add4jException(file + ": inconsistent feature statistics: " + e.getMessage(), e);
        }
    }

    private static Tensor join(Map<String, Tensor> t, String name) {
        return t.get(name + ".hi").to(torch.ScalarType.Double).add(t.get(name + ".lo").to(torch.ScalarType.Double));
    }

    /** Metadata stored beside the statistics (all pairs, including the sample count). */
    public static Map<String, String> metadata(Path file) { return SafeTensors.read(file).metadata(); }

}
