package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * Checks that the metrics measure what they claim, on image sets whose answer is known, each measured exactly as
 * {@link Evaluation#metrics} measures generated images, against the <em>training</em> split (statistics of all
 * its images, and N class-balanced training images as the real feature set):
 * <ul>
 *   <li>{@link #REAL}: N class-balanced real test images with prompts of their true class. FID small, precision
 *       and recall high, class accuracy about the eval net's test accuracy;</li>
 *   <li>{@link #SHUFFLED}: the same images with the prompts shuffled: the same FID, class accuracy about 0.1,
 *       a lower CLIP score;</li>
 *   <li>{@link #BLURRED}: the same images blurred (4x4 average pool, bilinear upsampling): a much larger FID;</li>
 *   <li>{@link #NOISE}: Gaussian noise clamped to [-1,1]: a larger FID still;</li>
 *   <li>{@link #CLASS_MEANS}: the ten class-mean training images, each repeated N/10 times: no variety, so a
 *       recall near 0.</li>
 * </ul>
 */
public final class SanityChecks {
    private SanityChecks() {}

    public static final String REAL = "test images, true prompts";
    public static final String SHUFFLED = "test images, shuffled prompts";
    public static final String BLURRED = "test images, blurred";
    public static final String NOISE = "gaussian noise";
    public static final String CLASS_MEANS = "class means, repeated";

    /** One image set and its metrics. */
    public record Case(String name, Evaluation.Metrics metrics) {}

    /**
     * All cases.
     * @param n                   images per case
     * @param reference           what the metrics compared with
     * @param evalNetTestAccuracy the eval net's class accuracy on the whole test split, for comparison with
     *                            {@link #REAL}'s class accuracy
     */
    public record Result(int n, String reference,
                         @com.fasterxml.jackson.annotation.JsonProperty("eval_net_test_accuracy") double evalNetTestAccuracy,
                         List<Case> cases) {
        public Result { cases = List.copyOf(cases); }

        /** The case named {@code name}. */
        public Evaluation.Metrics get(String name) {
            return cases.stream().filter(c -> c.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no sanity case '" + name + "'")).metrics();
        }
    }

    /**
     * Runs every case.
     * @param evalNetFile the file {@code net} came from (names the statistics cache)
     * @param dataName    what the data is, for messages
     * @param n           images per case, a multiple of 10 with n/10 test images of every class available
     * @param seed        seeds the choice of test images, the captions, the shuffle and the noise
     * @param log         receives progress lines
     */
    public static Result run(EvalNet net, Path evalNetFile, FashionMnist.Split train, FashionMnist.Split test,
                             String dataName, int n, long seed, TextEncoder text, int batch, Consumer<String> log) {
        Evaluation.checkN(n);
        int perClass = n / FashionMnist.CLASSES;
        int[] testIdx = Reference.classBalanced(test.labels(), perClass, seed);
        if (testIdx.length < n)
            throw new Add4jException("--n " + n + " needs " + perClass + " test images of every class; " + dataName
                    + " has " + test.n() + " test images in all, fewer in some class");
        try (var scope = new PointerScope()) {
            Reference ref = Reference.of(net, evalNetFile, train, dataName + " training split", n, batch, log);
            Evaluation.Prompts prompts = Evaluation.Prompts.classBalanced(n, seed);
            Tensor real = FashionMnist.images(test, testIdx);                                      // [N,1,32,32]
            List<Case> cases = new ArrayList<>();
            log.accept("sanity: " + REAL);
            cases.add(new Case(REAL, Evaluation.metrics(net, ref, real, prompts, text, batch)));
            log.accept("sanity: " + SHUFFLED);
            cases.add(new Case(SHUFFLED, Evaluation.metrics(net, ref, real, prompts.permuted(shuffle(n, seed)), text, batch)));
            log.accept("sanity: " + BLURRED);
            cases.add(new Case(BLURRED, Evaluation.metrics(net, ref, blurred(real), prompts, text, batch)));
            log.accept("sanity: " + NOISE);
            cases.add(new Case(NOISE, Evaluation.metrics(net, ref, noise(n, seed), prompts, text, batch)));
            log.accept("sanity: " + CLASS_MEANS);
            cases.add(new Case(CLASS_MEANS, Evaluation.metrics(net, ref, classMeans(train, n), prompts, text, batch)));
            return new Result(n, ref.description(), testAccuracy(net, test, batch), cases);
        }
    }

    /** A seeded permutation of 0..n-1. */
    static int[] shuffle(int n, long seed) {
        List<Integer> order = new ArrayList<>(IntStream.range(0, n).boxed().toList());
        Collections.shuffle(order, new Random(seed + 1));
        return order.stream().mapToInt(Integer::intValue).toArray();
    }

    /** 4x4 average pooling, then bilinear upsampling back to the input size. [N,C,H,W] -> [N,C,H,W] */
    static Tensor blurred(Tensor x) {
        Tensor small = torch.avg_pool2d(x, 4, 4);                                                     // [N,C,H/4,W/4]
        return torch.upsample_bilinear2d(small, new long[]{x.size(2), x.size(3)}, false);              // [N,C,H,W]
    }

    /** Standard normal noise clamped to the image range [-1,1], seeded. -> [N,1,32,32] */
    static Tensor noise(int n, long seed) {
        Tensor z = torch.randn(new long[]{n, 1, Evaluation.SIDE, Evaluation.SIDE}, new GeneratorOptional(torch.make_generator_cpu(seed)));
        return z.clamp(new ScalarOptional(Ops.s(-1)), new ScalarOptional(Ops.s(1)));
    }

    /** The mean training image of each class; image i is the mean of class i % 10. -> [N,1,32,32] */
    static Tensor classMeans(FashionMnist.Split train, int n) {
        Tensor sums = torch.zeros(FashionMnist.CLASSES, 1, Evaluation.SIDE, Evaluation.SIDE);       // [10,1,32,32]
        long[] counts = new long[FashionMnist.CLASSES];
        for (int from = 0; from < train.n(); from += Reference.CHUNK) {
            int b = Math.min(Reference.CHUNK, train.n() - from);
            try (var scope = new PointerScope()) {
                int[] idx = IntStream.range(from, from + b).toArray();
                Tensor x = FashionMnist.images(train, idx);                                        // [b,1,32,32]
                Tensor y = FashionMnist.labels(train, idx);                                        // [b]
                sums.index_add_(0, y, x);
            }
            for (int i = from; i < from + b; i++) counts[train.labels()[i]]++;
        }
        float[] c = new float[FashionMnist.CLASSES];
        for (int k = 0; k < c.length; k++) c[k] = Math.max(counts[k], 1);
        Tensor means = sums.div(Ops.perSample(Ops.fromFloats(c, c.length)));                        // [10,1,32,32]
        long[] cls = IntStream.range(0, n).mapToLong(i -> i % FashionMnist.CLASSES).toArray();
        return means.index_select(0, Ops.fromLongs(cls, n));                                        // [N,1,32,32]
    }

    /** The eval net's class accuracy on every image of {@code split}. */
    static double testAccuracy(EvalNet net, FashionMnist.Split split, int batch) {
        long correct = 0;
        for (int from = 0; from < split.n(); from += Reference.CHUNK) {
            int b = Math.min(Reference.CHUNK, split.n() - from);
            try (var scope = new PointerScope()) {
                int[] idx = IntStream.range(from, from + b).toArray();
                Tensor logits = net.evaluate(FashionMnist.images(split, idx), batch).logits();      // [b,10]
                correct += Math.round(ClassAccuracy.of(logits, FashionMnist.labels(split, idx)).overall() * b);
            }
        }
        return correct / (double) split.n();
    }

    /** The cases as a fixed-width text table. */
    public static String table(Result r) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-30s %9s %9s %9s %7s %9s %9s %7s%n",
                "case (n = " + r.n() + ")", "fid", "kid", "kid_std", "clip", "class_acc", "precision", "recall"));
        for (Case c : r.cases()) {
            Evaluation.Metrics m = c.metrics();
            b.append(String.format(Locale.ROOT, "%-30s %9.3f %9.5f %9.5f %7.2f %9.4f %9.4f %7.4f%n", c.name(), m.fid(), m.kid(),
                    m.kidStd(), m.clipScore(), m.classAccuracy(), m.precision(), m.recall()));
        }
        b.append(String.format(Locale.ROOT, "eval net accuracy on all test images: %.4f%n", r.evalNetTestAccuracy()));
        return b.toString();
    }
}
