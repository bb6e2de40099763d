package dev.add4j.eval;

import dev.add4j.Add4jException;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Precision;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.dist.Group;
import dev.add4j.io.Images;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Evaluating a diffusion model (teacher or student) at one step count, as the ADD paper's tables do: sample N
 * class-balanced images, then measure them with the frozen {@link EvalNet} against a {@link Reference}:
 * FID, KID, CLIP score, class accuracy and precision/recall, and the sampling time per image.
 * Used by {@code add4j eval}; nothing here depends on the command line, so the demo and the server can call it.
 *
 * <p>Image i is made from the prompt {@code prompts.get(i)} and the noise seed {@code seed + i} (as
 * {@code add4j sample} does), so rows at different step counts differ only by the steps.
 */
public final class Evaluation {
    private Evaluation() {}

    /** Side of a real image: Fashion-MNIST padded to 32 (generated ones take their shape from the model). */
    public static final int SIDE = FashionMnist.PADDED;
    /** Samples per class in the grid PNGs. */
    public static final int GRID_PER_CLASS = 8;

    // ------------------------------------------------------------------------------------------------------------
    // Prompts

    /**
     * N prompts, N/10 per class: image i is of class i % 10, with a caption drawn from {@link Captions}' templates;
     * or, on a folder, the captions of its test images ({@link #fromCaptions}).
     * @param prompts one caption per image
     * @param classes the class each caption names (0..9 for Fashion-MNIST; -1: none of the eval net's classes)
     */
    public record Prompts(List<String> prompts, List<Integer> classes) {
        public Prompts {
            if (prompts.size() != classes.size())
                throw new IllegalArgumentException("prompts: " + prompts.size() + " prompts but " + classes.size() + " classes");
            prompts = List.copyOf(prompts);
            classes = List.copyOf(classes);
        }

        /**
         * Class-balanced prompts; captions are drawn with a {@code Random(seed)}, so the same seed gives the same list.
         * @throws IllegalArgumentException unless n is a positive multiple of 10
         */
        public static Prompts classBalanced(int n, long seed) {
            checkN(n);
            Random rng = new Random(seed);
            List<String> p = new ArrayList<>(n);
            List<Integer> c = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int cls = i % FashionMnist.CLASSES;
                p.add(Captions.sample(cls, rng));
                c.add(cls);
            }
            return new Prompts(p, c);
        }

        /**
         * A folder's prompts: image i's caption is drawn (with a {@code Random(seed)}) among the captions of test image
         * {@code order[i % M]}, {@code order} being the reference's seeded choice of M test images, so the prompts
         * follow the real images the generated ones are compared with; its class is that image's (-1 where none).
         * @throws IllegalArgumentException for n < 1
         */
        public static Prompts fromCaptions(EvalImages test, int n, long seed) {
            if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
            int[] order = test.subset(n, Reference.SUBSET_SEED);
            int[] labels = test.labels();
            Random rng = new Random(seed);
            List<String> p = new ArrayList<>(n);
            List<Integer> c = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int image = order[i % order.length];
                List<String> caps = test.captionsOf(image);
                p.add(caps.get(rng.nextInt(caps.size())));
                c.add(labels == null ? -1 : labels[image]);
            }
            return new Prompts(p, c);
        }

        public int size() { return prompts.size(); }

        /** True when every prompt names one of Fashion-MNIST's ten classes in turn ({@link #classBalanced}'s layout). */
        boolean classBalancedLayout() {
            for (int i = 0; i < classes.size(); i++) if (classes.get(i) != i % FashionMnist.CLASSES) return false;
            return classes.size() % FashionMnist.CLASSES == 0;
        }

        /** Prompts [from, to) of this list: a rank's share of the images. */
        public Prompts slice(int from, int to) { return new Prompts(prompts.subList(from, to), classes.subList(from, to)); }

        /** The classes as an int64 CPU tensor [N]. */
        public Tensor labels() {
            return Ops.fromLongs(classes.stream().mapToLong(Integer::longValue).toArray(), classes.size());
        }

        /** The same images' prompts in another order (a permutation of positions), for the shuffled-prompt check. */
        public Prompts permuted(int[] order) {
            List<String> p = new ArrayList<>();
            List<Integer> c = new ArrayList<>();
            for (int i : order) {
                p.add(prompts.get(i));
                c.add(classes.get(i));
            }
            return new Prompts(p, c);
        }

        /**
         * The MiniLM pooled embedding of each prompt, [N,384] float32 on the CPU. Each distinct prompt is encoded
         * once: the token states of N prompts would take N x 48 KB.
         */
        public Tensor pooled(TextEncoder text) {
            Map<String, Integer> row = new LinkedHashMap<>();
            for (String p : prompts) row.putIfAbsent(p, row.size());
            long[] index = prompts.stream().mapToLong(row::get).toArray();
            Tensor distinct = text.encode(new ArrayList<>(row.keySet())).pooled();                     // [U,384]
            return distinct.index_select(0, Ops.fromLongs(index, index.length));                     // [N,384]
        }
    }

    /** @throws IllegalArgumentException unless n is a positive multiple of 10 */
    public static void checkN(int n) {
        if (n < FashionMnist.CLASSES || n % FashionMnist.CLASSES != 0)
            throw new IllegalArgumentException("n must be a positive multiple of 10 (the same number of images for each class), got " + n);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sampling

    /** Receives sampling progress after every batch. */
    @FunctionalInterface
    public interface Progress {
        /** @param done images finished, @param total images in all, @param seconds sampling time so far */
        void update(int done, int total, double seconds);

        Progress NONE = (done, total, seconds) -> {};
    }

    /**
     * Generated images and the time they took.
     * @param images     [N,1,32,32] float32 in about [-1,1], on the CPU, owned by the caller's scope
     * @param msPerImage sampling wall time / N: text conditions, sampler and the copy to the CPU; a warm-up pass,
     *                   prompt encoding and metrics excluded
     */
    public record Generated(Tensor images, double msPerImage) {}

    /**
     * Samples one image per prompt, in batches of {@code batch}, each in its own scope; only the CPU copy of the
     * images is kept. Image i uses the noise seed {@code seed + i}, whatever the batch.
     * @param guidance classifier-free guidance scale; 0 or 1 is none
     */
    public static Generated sample(VPredictionModel model, SamplingPlan plan, double guidance, Prompts prompts, long seed,
                                   int batch, TextEncoder text, Device device, Progress progress) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        int n = prompts.size();
        Tensor out = torch.empty(model.imageShape(n), Ops.floatOn(new Device("cpu")), new MemoryFormatOptional()); // [N,C,32,32]
        try (var run = new PointerScope(); var g = new NoGradGuard()) {
            text.encode(new ArrayList<>(new LinkedHashSet<>(prompts.prompts())));   // fills the prompt cache: untimed
            TextCond empty = text(text, List.of(""), device);
            Denoiser d = plan.denoiser(model, empty, guidance);
            warmUp(d, model.imageShape(Math.min(batch, n)), prompts, text, device);
            long t0 = System.nanoTime();
            for (int from = 0; from < n; from += batch) {
                int b = Math.min(batch, n - from);
                try (var scope = new PointerScope()) {
                    TextCond c = text(text, prompts.prompts().subList(from, from + b), device);
                    Noise noise = new Noise(seed + from, b);
                    Tensor xT = noise.like(torch.empty(model.imageShape(b))).to(device, torch.ScalarType.Float); // [b,C,32,32]
                    Tensor x0 = plan.sample(d, model.schedule(), xT, c, noise);                                // [b,C,32,32]
                    out.narrow(0, from, b).copy_(x0.to(new Device("cpu"), torch.ScalarType.Float)); // waits for the device
                }
                progress.update(from + b, n, (System.nanoTime() - t0) / 1e9);
            }
            return new Generated(out, (System.nanoTime() - t0) / 1e6 / n);
        }
    }

    /** One denoiser pass at the first batch's size, untimed: the first pass pays for kernel selection and allocation. */
    private static void warmUp(Denoiser d, long[] shape, Prompts prompts, TextEncoder text, Device device) {
        try (var scope = new PointerScope()) {
            TextCond c = text(text, prompts.prompts().subList(0, (int) shape[0]), device);
            Tensor x = torch.zeros(shape).to(device, torch.ScalarType.Float);
            Ops.f(d.x0(x, NoiseSchedule.T - 1, c).sum());                                            // syncs
        }
    }

    private static TextCond text(TextEncoder text, List<String> prompts, Device device) {
        TextEncoder.Embedding e = text.encode(prompts);
        return new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Metrics

    /**
     * The metrics of one image set.
     * @param fid               Fréchet distance of the images' features to the reference statistics
     * @param kid               KID against the reference feature set: the mean over 100 random subsets of
     *                          {@link #kidSubsetSize} images from each set
     * @param kidStd            spread (standard deviation) of KID over the subsets
     * @param clipScore         100 x mean max(cos, 0) of the eval net's projection and the prompt's MiniLM embedding
     * @param classAccuracy     fraction of images the eval net assigns to their prompt's class, over the prompts that
     *                          name one of its classes; NaN where none does or the net has no class head (a folder)
     * @param perClassAccuracy  the same per prompt class, index = class (empty where NaN)
     * @param precision         fraction of images inside the real feature manifold (k = 3)
     * @param recall            fraction of real images inside the images' feature manifold (k = 3)
     */
    public record Metrics(double fid, double kid,
                          @JsonProperty("kid_std") double kidStd,
                          @JsonProperty("clip_score") double clipScore,
                          @JsonProperty("class_accuracy") double classAccuracy,
                          @JsonProperty("per_class_accuracy") List<Double> perClassAccuracy,
                          double precision, double recall) {
        public Metrics { perClassAccuracy = List.copyOf(perClassAccuracy); }
    }

    /**
     * Measures images made for {@code prompts} against {@code ref}.
     * @param images [N,1,32,32] in [-1,1], any device (moved to the eval net's batch by batch)
     * @param batch  images per eval-net pass
     */
    public static Metrics metrics(EvalNet net, Reference ref, Tensor images, Prompts prompts, TextEncoder text, int batch) {
        Ops.expectShape(images, "images", prompts.size(), net.config().imageChannels(), -1, -1);
        try (var scope = new PointerScope()) {
            return metrics(ref, net.evaluate(images, batch), prompts, text);                     // on images' device
        }
    }

    /** Measures the eval net's outputs {@code o} of the images made for {@code prompts} against {@code ref}. */
    static Metrics metrics(Reference ref, EvalNet.Outputs o, Prompts prompts, TextEncoder text) {
        try (var scope = new PointerScope()) {
            Tensor gen = o.features();                                                               // [N,F]
            double fid = Fid.distance(ref.stats(), FeatureStats.of(gen));
            Kid.Result kid = Kid.compute(ref.features(), gen, Kid.DEFAULT_SUBSETS, kidSubsetSize(ref.features().size(0), gen.size(0)), 0);
            PrecisionRecall.Result pr = PrecisionRecall.compute(ref.features(), gen);
            double clip = ClipScore.score(o.projection(), prompts.pooled(text));
            ClassAccuracy.Result acc = classAccuracy(o.logits(), prompts);
            return new Metrics(fid, kid.mean(), kid.std(), clip, acc == null ? Double.NaN : acc.overall(),
                    acc == null ? List.of() : acc.perClass(), pr.precision(), pr.recall());
        }
    }

    /** Class accuracy over the prompts that name a class; null where none does or {@code logits} is null (no class head). */
    private static ClassAccuracy.Result classAccuracy(Tensor logits, Prompts prompts) {
        if (logits == null) return null;
        long[] named = java.util.stream.IntStream.range(0, prompts.size()).filter(i -> prompts.classes().get(i) >= 0).asLongStream().toArray();
        if (named.length == 0) return null;
        if (named.length == prompts.size()) return ClassAccuracy.of(logits, prompts.labels());      // Fashion-MNIST: every image
        Tensor pick = Ops.fromLongs(named, named.length).to(logits.device(), torch.ScalarType.Long);
        return ClassAccuracy.of(logits.index_select(0, pick), prompts.labels().index_select(0, pick.cpu()));
    }

    /**
     * KID's subset size: the usual 1000, but at most half of the smaller set. [choice] A subset as large as the set
     * itself would make every subset the same, and kid_std 0 whatever the estimate's spread; at N >= 2000 this is
     * the standard 1000.
     */
    static int kidSubsetSize(long real, long generated) {
        return (int) Math.max(2, Math.min(Kid.DEFAULT_SUBSET_SIZE, Math.min(real, generated) / 2));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Rows and the report

    /**
     * One row of {@code metrics.json}: a model at one step count.
     * @param steps     sampling steps
     * @param sampler   "ddim" (teacher) or "add" (student)
     * @param timesteps the timesteps sampled, high to low
     * @param guidance  classifier-free guidance scale (0: none)
     * @param n         images
     * @param msPerImage sampling wall time / n (metrics excluded)
     * @param dtype     the UNet's number format in sampling: "fp32" or "bf16" ({@link Precision}); rows of older
     *                  files, without it, were fp32
     */
    public record Row(int steps, String sampler, List<Integer> timesteps, double guidance, int n,
                      double fid, double kid,
                      @JsonProperty("kid_std") double kidStd,
                      @JsonProperty("clip_score") double clipScore,
                      @JsonProperty("class_accuracy") double classAccuracy,
                      @JsonProperty("per_class_accuracy") List<Double> perClassAccuracy,
                      double precision, double recall,
                      @JsonProperty("ms_per_image") double msPerImage, String dtype) {
        public Row {
            timesteps = List.copyOf(timesteps);
            perClassAccuracy = List.copyOf(perClassAccuracy);
            if (dtype == null) dtype = Precision.FP32.cliName();
        }

        /** A float32 row. */
        public Row(int steps, String sampler, List<Integer> timesteps, double guidance, int n, double fid, double kid, double kidStd,
                   double clipScore, double classAccuracy, List<Double> perClassAccuracy, double precision, double recall, double msPerImage) {
            this(steps, sampler, timesteps, guidance, n, fid, kid, kidStd, clipScore, classAccuracy, perClassAccuracy, precision, recall,
                    msPerImage, null);
        }

        public static Row of(SamplingPlan plan, double guidance, int n, Metrics m, double msPerImage) {
            return new Row(plan.steps(), plan.samplerName(), plan.timesteps(), guidance, n, m.fid(), m.kid(), m.kidStd(),
                    m.clipScore(), m.classAccuracy(), m.perClassAccuracy(), m.precision(), m.recall(), msPerImage,
                    plan.precision().cliName());
        }
    }

    /**
     * The content of {@code metrics.json}.
     * @param model     the model file evaluated
     * @param evalNet   the eval net file
     * @param reference what the real side of the metrics is (data, image counts, statistics cache)
     * @param seed      seed of image 0 (image i uses seed + i) and of the captions
     * @param rows      one per step count, in the order asked
     */
    public record Report(String model, @JsonProperty("eval_net") String evalNet, String reference, long seed, List<Row> rows) {
        public Report { rows = List.copyOf(rows); }
    }

    /** A generated image set and its row. {@code images} [N,1,32,32] CPU, owned by the caller's scope. */
    public record Result(Row row, Tensor images) {}

    /**
     * What stays fixed across the rows of one evaluation.
     * @param net       the frozen eval net (on {@code device})
     * @param reference the real-image side
     * @param prompts   the N prompts (and classes) every row uses
     * @param seed      image i's noise seed is seed + i
     * @param batch     images per sampling and eval-net batch
     */
    public record Setup(EvalNet net, Reference reference, TextEncoder text, Device device, Prompts prompts, long seed, int batch) {}

    /** Samples {@code model} at {@code steps} and measures the images: one row. */
    public static Result evaluate(Setup s, ModelFile.Loaded model, int steps, double guidance, Progress progress) {
        return evaluate(s, model, model.plan(steps), guidance, progress);
    }

    /** Samples {@code model} as {@code plan} says and measures the images: one row. */
    public static Result evaluate(Setup s, ModelFile.Loaded model, SamplingPlan plan, double guidance, Progress progress) {
        return evaluate(s, model, plan, guidance, progress, Group.SINGLE);
    }

    /**
     * As {@link #evaluate(Setup, ModelFile.Loaded, SamplingPlan, double, Progress)}, the work split over {@code group}'s
     * ranks ({@code add4j eval} on several): each samples and embeds its share of the images (image i still from seed
     * + i and prompt i), the images and the eval net's outputs are gathered, and every rank measures them all, so each
     * gets one process's numbers (to float tolerance: the batches differ). The real side ({@code s.reference()}) is
     * each rank's own. Every rank must call it, in step.
     * @param progress this rank's share: done and total count its images
     */
    public static Result evaluate(Setup s, ModelFile.Loaded model, SamplingPlan plan, double guidance, Progress progress, Group group) {
        if (group.size() == 1) {
            Generated g = sample(model.model(), plan, guidance, s.prompts(), s.seed(), s.batch(), s.text(), s.device(), progress);
            Metrics m = metrics(s.net(), s.reference(), g.images(), s.prompts(), s.text(), s.batch());
            return new Result(Row.of(plan, guidance, s.prompts().size(), m, g.msPerImage()), g.images());
        }
        int n = s.prompts().size();
        long[] share = group.share(n);
        int from = (int) share[0], to = (int) share[1];
        if (from == to) throw new Add4jException("--n " + n + " is fewer images than the " + group.size() + " ranks");
        Generated g = sample(model.model(), plan, guidance, s.prompts().slice(from, to), s.seed() + from, s.batch(), s.text(), s.device(), progress);
        EvalNet.Outputs o = s.net().evaluate(g.images(), s.batch());
        Tensor images = group.assemble(g.images(), from, n);                                        // [N,C,32,32]
        EvalNet.Outputs all = new EvalNet.Outputs(group.assemble(o.features(), from, n),           // [N,F]
                o.logits() == null ? null : group.assemble(o.logits(), from, n),                    // [N,classes]
                group.assemble(o.projection(), from, n));                                           // [N,D]
        // the job's speed: the slowest rank's sampling time over all N images
        double[] seconds = new double[group.size()];
        seconds[group.rank()] = g.msPerImage() * (to - from) / 1e3;
        double slowest = Arrays.stream(group.allReduceSum(seconds)).max().orElseThrow();
        Metrics m = metrics(s.reference(), all, s.prompts(), s.text());
        return new Result(Row.of(plan, guidance, n, m, slowest * 1e3 / n), images);
    }

    /**
     * A grid of up to {@value #GRID_PER_CLASS} images per class, one class a row (class 0 at the top), each image
     * scaled 2x. Images are picked in order from those whose prompt names the class. Prompts not laid out class by
     * class (a folder's captions) give the first images, {@value #GRID_PER_CLASS} a row, up to 8 rows.
     */
    public static BufferedImage grid(Tensor images, Prompts prompts) {
        if (!prompts.classBalancedLayout())
            try (var scope = new PointerScope()) {
                long shown = Math.min(images.size(0), (long) GRID_PER_CLASS * GRID_PER_CLASS);
                return Images.grid(images.narrow(0, 0, shown), (int) Math.min(GRID_PER_CLASS, shown), 2);
            }
        int perClass = Math.min(GRID_PER_CLASS, prompts.size() / FashionMnist.CLASSES);
        List<Long> pick = new ArrayList<>();
        for (int c = 0; c < FashionMnist.CLASSES; c++) {
            int taken = 0;
            for (int i = 0; i < prompts.size() && taken < perClass; i++)
                if (prompts.classes().get(i) == c) {
                    pick.add((long) i);
                    taken++;
                }
        }
        try (var scope = new PointerScope()) {
            long[] idx = pick.stream().mapToLong(Long::longValue).toArray();
            return Images.grid(images.index_select(0, Ops.fromLongs(idx, idx.length)), perClass, 2);
        }
    }

    /** The rows as a fixed-width text table, one line per row after a header. */
    public static String table(List<Row> rows) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%5s %-7s %6s %5s %9s %9s %9s %7s %9s %9s %7s %9s%n",
                "steps", "sampler", "cfg", "n", "fid", "kid", "kid_std", "clip", "class_acc", "precision", "recall", "ms/image"));
        for (Row r : rows)
            b.append(String.format(Locale.ROOT, "%5d %-7s %6.2f %5d %9.3f %9.5f %9.5f %7.2f %9.4f %9.4f %7.4f %9.2f%n",
                    r.steps(), r.sampler(), r.guidance(), r.n(), r.fid(), r.kid(), r.kidStd(), r.clipScore(),
                    r.classAccuracy(), r.precision(), r.recall(), r.msPerImage()));
        return b.toString();
    }
}
