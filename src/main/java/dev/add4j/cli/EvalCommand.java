package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.ImageFolder;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Precision;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.dist.Group;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.Evaluation;
import dev.add4j.eval.SanityChecks;
import dev.add4j.eval.TestData;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code add4j eval}: FID, KID, CLIP score, class accuracy, precision/recall and speed of a model at several step counts. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate a teacher (DDIM) or a student (ADD sampler) at each step count: N class-balanced images "
                + "(N/10 per class, seeded captions, image i from seed SEED+i), measured with the eval net against the "
                + "Fashion-MNIST test images; with --data DIR (a captioned folder) and --eval-net trained on it, N prompts "
                + "drawn from the folder's test captions, measured against its test split. Writes DIR/metrics.json and "
                + "DIR/grid-steps-S.png per row, prints a table.",
                "With --sanity: checks the metrics on real test images, blurred ones, noise and class means against the "
                        + "training set, and prints the numbers (no model needed)."})
public final class EvalCommand implements Callable<Integer> {
    /** Where {@code add4j train-eval-net} is told to write the eval net in the docs, relative to the working directory. */
    static final Path DEFAULT_EVAL_NET = Dataset.FMNIST.evalNet();

    @Option(names = "--model", paramLabel = "FILE", description = "A .safetensors model made by add4j (teacher or student).") Path model;
    @Option(names = "--steps", paramLabel = "S1,S2,...", description = "Step counts, one row each, e.g. 1,2,4,50 (1..1000).") String steps;
    @Option(names = "--guidance", defaultValue = "0", description = "Classifier-free guidance scale; 0 or 1: none (default: ${DEFAULT-VALUE}).") double guidance;
    @Option(names = "--sampler", paramLabel = "ddim|euler-a|add",
            description = "Sampler (default: ddim for a teacher, add for a student).") String sampler;
    @Option(names = "--n", defaultValue = "1000", description = "Images per row, a multiple of 10 on Fashion-MNIST (default: ${DEFAULT-VALUE}).") int n;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of image 0 and of the captions (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--out", paramLabel = "DIR", description = "Output directory: new or empty unless --force (default: runs/eval-<model name>).") Path out;
    @Option(names = "--eval-net", paramLabel = "FILE", description = "The eval net (default: models/evalnet-fmnist.safetensors).") Path evalNet;
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, 'embedded' for the shipped subset (1000 test images), or a captioned "
                    + "image folder, whose test split is the reference (default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).") String data;
    @Option(names = "--batch", description = "Images per sampling and eval-net batch (default: " + CPU_BATCH + " on a CPU, "
            + GPU_BATCH + " on a GPU).") Integer batch;
    /**
     * [choice] Measured here (the teacher's UNet, one CPU thread; see {@link DemoCommand#EVAL_BATCH}): 9-10 ms per
     * image and pass at batch 25 to 100, 41-75 ms at 250, whose activations no longer fit the caches; a GPU wants
     * large batches.
     */
    static final int CPU_BATCH = 50, GPU_BATCH = 250;
    @Option(names = "--caption-cache", paramLabel = "FILE", description = "Where MiniLM's model is missing (a packed GPU "
            + "runtime): the prompts' embeddings from this cache of the training captions, as distill's.") Path captionCache;
    @Option(names = "--sanity", description = "Check the metrics on known image sets instead of evaluating a model.") boolean sanity;
    @Mixin Outputs.Force force;
    @Mixin ImageCap cap;
    @Mixin PrecisionOption precision;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() {
        return sanity ? sanity() : evaluate();
    }

    private int evaluate() {
        // every check on the input comes before anything is loaded or computed
        if (model == null) throw new Add4jException("--model is required (or --sanity to check the metrics on real images)");
        if (steps == null) throw new Add4jException("--steps is required, e.g. --steps 1,2,4,50");
        List<Integer> stepList = parseSteps(steps);
        checkCommon();
        ImageCap.checkGuidance(guidance);
        cap.check((long) n * stepList.size(), "--n " + n + " x " + stepList.size() + (stepList.size() == 1 ? " step count" : " step counts"));
        Samplers.Kind kind = sampler != null ? Samplers.Kind.parse(sampler) : null; // null: the model's own; a bad name fails before any work
        Precision dtype = precision.get();
        Path dir = out != null ? out : Path.of("runs", "eval-" + stem(model));
        Path metricsFile = dir.resolve("metrics.json");
        Outputs.directory(dir, force.force);
        if (!Files.isRegularFile(model)) throw new Add4jException("--model " + model + ": no such file");
        Path netFile = evalNetFile();
        TestData testData = TestData.open(data);   // a folder's table is checked now, its pictures converted once the shapes agree

        Device device = deviceOption.init();
        int batch = batchFor(device);
        ModelFile.Loaded loaded = ModelFile.load(model, device);
        if (!testData.isFolder()) ModelFile.requireFashionMnistShape(loaded.model(), "--model " + model, "eval");
        List<Evaluation.Row> rows = new ArrayList<>();
        String referenceText;
        Group group = Group.current();      // on several ranks each samples and embeds its share; rank 0 writes
        try (var scope = new PointerScope(); TextEncoder text = TextEncoder.forRuntime(captionCache)) {
            EvalNet.Loaded netLoaded = EvalNet.load(netFile, device);
            netLoaded.requireShape(loaded.model().channels(), loaded.model().imageSize(), "--model " + model);
            Evaluation.Setup setup = testData.setup(netLoaded, text, device, n, seed, batch, System.err);
            referenceText = setup.reference().description();
            Evaluation.Prompts prompts = setup.prompts();
            if (group.isMain()) Files.createDirectories(dir);
            for (int s : stepList) {
                try (var rowScope = new PointerScope()) {
                    SamplingPlan plan = loaded.plan(s, kind).with(dtype);
                    Evaluation.Result r = Evaluation.evaluate(setup, loaded, plan, guidance, progress(plan), group);
                    rows.add(r.row());
                    if (!group.isMain()) continue;
                    Images.writePng(dir.resolve("grid-steps-" + s + ".png"), Evaluation.grid(r.images(), prompts));
                    System.err.printf(Locale.ROOT, "steps %d: fid %.3f, clip score %.2f, class accuracy %.4f, %.2f ms/image%n",
                            s, r.row().fid(), r.row().clipScore(), r.row().classAccuracy(), r.row().msPerImage());
                }
            }
        } catch (java.io.IOException e) {
            throw new Add4jException(dir + ": cannot create the directory (" + e.getMessage() + ")", e);
        }
        if (!group.isMain()) return 0;
        Evaluation.Report report = new Evaluation.Report(model.toString(), netFile.toString(), referenceText, seed, rows);
        // checked again: another run may have finished into the same directory meanwhile
        if (!force.force && Files.exists(metricsFile)) throw new Add4jException(metricsFile + " appeared while evaluating; not overwritten");
        AtomicFiles.writeString(metricsFile, Json.write(report) + "\n");
        System.out.print(Evaluation.table(rows));
        if (rows.stream().anyMatch(r -> Double.isNaN(r.classAccuracy())))
            System.out.println("class accuracy: none (NaN): the eval net has no class head, or no prompt's caption is one of its classes");
        System.out.println("wrote " + metricsFile + " and " + rows.size() + " grid PNGs to " + dir);
        return 0;
    }

    private int sanity() {
        if (model != null || steps != null)
            throw new Add4jException("--sanity measures real images, not a model: drop --model and --steps");
        if (ImageFolder.isFolder(data)) throw new Add4jException("--sanity checks the metrics on Fashion-MNIST; --data " + data + " is a captioned folder");
        if (Group.current().size() > 1) throw new Add4jException("add4j eval --sanity runs as one process, not on " + Group.current().size() + " ranks");
        checkCommon();
        cap.check(n, "--n " + n);
        Path sanityFile = out == null ? null : out.resolve("sanity.json");
        if (out != null) Outputs.directory(out, force.force);
        Path netFile = evalNetFile();
        FashionMnist.Split train = FashionMnist.load(data, true), test = FashionMnist.load(data, false);
        Device device = deviceOption.init();
        int batch = batchFor(device);
        SanityChecks.Result r;
        try (var scope = new PointerScope(); TextEncoder text = new TextEncoder()) {
            EvalNet net = EvalNet.load(netFile, device).net();
            r = SanityChecks.run(net, netFile, train, test, dataName(), n, seed, text, batch, System.err::println);
        }
        System.out.print(SanityChecks.table(r));
        if (sanityFile != null) {
            AtomicFiles.writeString(sanityFile, Json.write(r) + "\n");
            System.out.println("wrote " + sanityFile);
        }
        return 0;
    }

    private void checkCommon() {
        TestData.checkN(data, "--n", n);
        if (batch != null && batch < 1) throw new Add4jException("--batch must be >= 1, got " + batch);
    }

    private int batchFor(Device device) { return batch != null ? batch : device.is_cuda() ? GPU_BATCH : CPU_BATCH; }

    private Path evalNetFile() { return evalNetFile(data, evalNet); }

    /** {@code --eval-net}, or the default where the data is Fashion-MNIST; a folder's must be named. */
    static Path evalNetFile(String data, Path evalNet) {
        if (evalNet == null && ImageFolder.isFolder(data))
            throw new Add4jException("--data " + data + " is a captioned folder: name an eval net trained on it with --eval-net "
                    + "(add4j train-eval-net --data " + data + " --out FILE); the default one is Fashion-MNIST's");
        Path f = evalNet != null ? evalNet : DEFAULT_EVAL_NET;
        if (!Files.isRegularFile(f))
            throw new Add4jException("--eval-net " + f + ": no such file; train one with: add4j train-eval-net --out " + f);
        return f;
    }

    private String dataName() {
        return FashionMnist.describe(data);
    }

    /** Prints "steps 4 (add): 500/1000 images, 2.10 ms/image, ETA 1 s" to stderr after every batch. */
    private static Evaluation.Progress progress(SamplingPlan plan) {
        int steps = plan.steps();
        String sampler = plan.samplerName();
        return (done, total, seconds) -> System.err.printf(Locale.ROOT, "steps %d (%s): %d/%d images, %.2f ms/image, ETA %.0f s%n",
                steps, sampler, done, total, seconds * 1e3 / done, seconds / done * (total - done));
    }

    /**
     * Parses "1,2,4,50".
     * @throws Add4jException for a non-integer, a count outside 1..1000, or a count listed twice
     */
    static List<Integer> parseSteps(String csv) {
        List<Integer> out = new ArrayList<>();
        for (String p : csv.split(",", -1)) {
            int s;
            try {
                s = Integer.parseInt(p.trim());
            } catch (NumberFormatException e) {
                throw new Add4jException("--steps: '" + p.trim() + "' is not an integer; expected a list like 1,2,4,50");
            }
            if (s < 1 || s > NoiseSchedule.T) throw new Add4jException("--steps: " + s + " is outside 1.." + NoiseSchedule.T);
            if (out.contains(s)) throw new Add4jException("--steps: " + s + " is listed twice");
            out.add(s);
        }
        return out;
    }

    private static String stem(Path file) {
        String name = file.getFileName().toString();
        return name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
    }
}
