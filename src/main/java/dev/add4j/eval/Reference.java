package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.Provenance;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * The real-image side of the metrics, in {@link EvalNet} feature space:
 * <ul>
 *   <li>{@link #stats}: mean and covariance of the features of every image of a split (the 10k Fashion-MNIST test
 *       images), for FID. Computed once per (eval net, data) pair and cached beside the eval net as
 *       {@code FILE.ref-<key>.safetensors} through {@link FeatureStats};</li>
 *   <li>{@link #features}: the features of a class-balanced subset of the same split, for the metrics that need a
 *       real feature <em>set</em> and not only its moments (KID, precision/recall). Recomputed on every run (a
 *       pass over at most N images).</li>
 * </ul>
 * The cache key hashes the eval net's file name, size and content and the split's pixels and labels, so a
 * retrained eval net (same name, same size) or other data never meets a stale cache.
 *
 * <p>Shapes: features [M,F] float32 on the CPU, owned by the caller's scope.
 *
 * @param stats       feature statistics of the whole split (float64, CPU)
 * @param features    features of the class-balanced subset [M,F]
 * @param description one line for reports: which data, how many images, where the statistics are cached
 */
public record Reference(FeatureStats stats, Tensor features, String description) {
    /** Seed of the class-balanced choice of real images. [choice] Fixed, so every run compares with the same set. */
    public static final long SUBSET_SEED = 0;
    /** Images per eval-net pass while computing statistics: bounds the float32 image tensor made at once. */
    static final int CHUNK = 2000;

    static final String KEY = "reference.key";
    static final String EVAL_NET = "reference.eval_net";
    static final String EVAL_NET_BYTES = "reference.eval_net_bytes";
    static final String EVAL_NET_SHA = "reference.eval_net_sha256";
    static final String DATA = "reference.data";
    static final String DATA_SHA = "reference.data_sha256";

    /**
     * Loads or computes the reference for {@code split}.
     * @param evalNetFile the file {@code net} was loaded from: names the cache and enters its key
     * @param dataName    what the split is, for messages ("Fashion-MNIST test split, /usr/share/...")
     * @param subsetSize  real images for the feature set: about subsetSize/10 per class (fewer where a class has fewer)
     * @param batch       images per eval-net pass
     * @param log         receives one line when statistics are computed or reused
     */
    public static Reference of(EvalNet net, Path evalNetFile, FashionMnist.Split split, String dataName, int subsetSize,
                               int batch, Consumer<String> log) {
        return of(net, evalNetFile, EvalImages.of(split), dataName, subsetSize, batch, log);
    }

    /**
     * As above for any {@link EvalImages}: a folder's test split has its statistics cached the same way, and its
     * feature set is a seeded choice of its images ({@link EvalImages#subset}), the one its prompts are drawn from.
     */
    public static Reference of(EvalNet net, Path evalNetFile, EvalImages split, String dataName, int subsetSize,
                               int batch, Consumer<String> log) {
        String key = cacheKey(evalNetFile, split.sha256());
        FeatureStats stats = cachedStats(net, evalNetFile, key, split, dataName, batch, log);
        int[] idx = split.subset(subsetSize, SUBSET_SEED);
        Tensor features = features(net, split, idx, batch);                                     // [M,F]
        String description = String.format(Locale.ROOT, "%s: %d images (FID statistics: %s); %d %s real images for KID and precision/recall",
                dataName, split.n(), cacheFile(evalNetFile, key).getFileName(), idx.length,
                split instanceof EvalImages.Fashion ? "class-balanced" : "seeded");
        return new Reference(stats, features, description);
    }

    /**
     * The statistics of all images of {@code split}: read from the cache when its key matches, else computed and
     * cached. A cache that cannot be written (read-only directory) is reported and skipped.
     */
    public static FeatureStats cachedStats(EvalNet net, Path evalNetFile, FashionMnist.Split split, String dataName,
                                           int batch, Consumer<String> log) {
        return cachedStats(net, evalNetFile, cacheKey(evalNetFile, split), EvalImages.of(split), dataName, batch, log);
    }

    private static FeatureStats cachedStats(EvalNet net, Path evalNetFile, String key, EvalImages split, String dataName,
                                            int batch, Consumer<String> log) {
        Path file = cacheFile(evalNetFile, key);
        if (Files.isRegularFile(file)) {
            try {
                if (key.equals(FeatureStats.metadata(file).get(KEY))) {
                    log.accept("reference statistics: reusing " + file);
                    return FeatureStats.load(file);
                }
            } catch (Add4jException e) {
                log.accept("reference statistics: ignoring unreadable cache " + file + " (" + e.getMessage() + ")");
            }
        }
        log.accept(String.format(Locale.ROOT, "reference statistics: computing over %d images of %s", split.n(), dataName));
        long t0 = System.nanoTime();
        FeatureStats stats;
        try (var scope = new PointerScope()) {
            stats = FeatureStats.of(features(net, split, all(split.n()), batch));
            stats.mean().retainReference();
            stats.cov().retainReference();
        }
        attachToCaller(stats.mean());
        attachToCaller(stats.cov());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(KEY, key);
        meta.put(EVAL_NET, evalNetFile.getFileName().toString());
        meta.put(EVAL_NET_BYTES, Long.toString(size(evalNetFile)));
        meta.put(EVAL_NET_SHA, Provenance.sha256(evalNetFile));
        meta.put(DATA, dataName + " (" + split.n() + " images)");
        meta.put(DATA_SHA, split.sha256());
        if (!dev.add4j.dist.Group.current().isMain()) return stats;   // rank 0 alone writes the cache
        try {
            stats.save(file, meta);
            log.accept(String.format(Locale.ROOT, "reference statistics: %.1f s, cached in %s", (System.nanoTime() - t0) / 1e9, file));
        } catch (Add4jException e) {
            log.accept("reference statistics: not cached (" + e.getMessage() + ")");
        }
        return stats;
    }

    /**
     * The cache key: the first 16 hex digits of SHA-256 over the eval net's file name, size and content hash and the
     * split's content hash.
     */
    public static String cacheKey(Path evalNetFile, FashionMnist.Split split) { return cacheKey(evalNetFile, dataSha256(split)); }

    private static String cacheKey(Path evalNetFile, String dataSha256) {
        String id = evalNetFile.getFileName() + "\n" + size(evalNetFile) + "\n" + Provenance.sha256(evalNetFile) + "\n" + dataSha256;
        return sha256(id.getBytes(StandardCharsets.UTF_8)).substring(0, 16);
    }

    /** {@code FILE.ref-<key>.safetensors} beside the eval net {@code FILE}. */
    public static Path cacheFile(Path evalNetFile, String key) {
        return evalNetFile.resolveSibling(evalNetFile.getFileName() + ".ref-" + key + ".safetensors");
    }

    /**
     * Indices of up to {@code perClass} images of each class, drawn without replacement with a seeded shuffle,
     * interleaved by class (position i holds class i % 10) while every class has images left, then the rest class
     * after class. With enough images per class, position i is of class i % 10, as {@link Evaluation.Prompts} are.
     */
    public static int[] classBalanced(int[] labels, int perClass, long seed) {
        int classes = FashionMnist.CLASSES;
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < classes; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < labels.length; i++) byClass.get(labels[i]).add(i);
        Random rng = new Random(seed);
        for (List<Integer> l : byClass) Collections.shuffle(l, rng);
        int rounds = byClass.stream().mapToInt(List::size).max().orElse(0);
        List<Integer> out = new ArrayList<>();
        for (int j = 0; j < Math.min(perClass, rounds); j++)
            for (int c = 0; c < classes; c++) if (j < byClass.get(c).size()) out.add(byClass.get(c).get(j));
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** EvalNet features of the split's images at {@code idx}, in chunks. -> [len(idx),F] float32, CPU. */
    static Tensor features(EvalNet net, FashionMnist.Split split, int[] idx, int batch) {
        return features(net, EvalImages.of(split), idx, batch);
    }

    static Tensor features(EvalNet net, EvalImages split, int[] idx, int batch) {
        Tensor out = torch.empty(new long[]{idx.length, net.config().featureDim()}, Ops.floatOn(new Device("cpu")),
                new MemoryFormatOptional());                                                     // [M,F]
        for (int from = 0; from < idx.length; from += CHUNK) {
            int b = Math.min(CHUNK, idx.length - from);
            try (var scope = new PointerScope()) {
                Tensor images = split.images(Arrays.copyOfRange(idx, from, from + b));            // [b,C,S,S]
                out.narrow(0, from, b).copy_(net.evaluate(images, batch).features());
            }
        }
        return out;
    }

    private static int[] all(int n) { return IntStream.range(0, n).toArray(); }

    /** Hands a tensor retained inside a closed scope to the caller's scope (or leaves it retained when there is none). */
    static void attachToCaller(Tensor t) {
        var outer = PointerScope.getInnerScope();
        if (outer != null) {
            outer.attach(t);
            t.releaseReference();
        }
    }

    /** SHA-256 of a split's labels and pixels, hex. */
    static String dataSha256(FashionMnist.Split split) {
        MessageDigest md = digest();
        ByteBuffer b = ByteBuffer.allocate(4 * split.labels().length + 4);
        b.putInt(split.n());
        for (int l : split.labels()) b.putInt(l);
        md.update(b.array());
        md.update(split.pixels());
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256(byte[] bytes) { return HexFormat.of().formatHex(digest().digest(bytes)); }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }
}
