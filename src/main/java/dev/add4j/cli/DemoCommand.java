package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.add.AddConfig;
import dev.add4j.add.AddTrainer;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.TrainingData;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.Evaluation;
import dev.add4j.eval.HtmlReport;
import dev.add4j.eval.TestData;
import dev.add4j.features.Vit;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.io.Provenance;
import dev.add4j.text.TextEncoder;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * {@code add4j demo}: the method end to end in a few minutes on a fresh clone. A short ADD run from the shipped
 * teacher, then {@code add4j eval}'s measurements of teacher and students, then a static HTML report.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"The whole method in a few minutes, with nothing to set up: distil the shipped teacher into a "
                + "1-4 step student with a short ADD run, evaluate the teacher (DDIM, 1, 4 and 50 steps) and the student "
                + "(1, 2 and 4 steps) as add4j eval does, and write a static report, OUT/index.html: sample grids side "
                + "by side by step count, the metrics, the loss curves and the commands that go further.",
                "Also writes OUT/run/ (the distillation run, as add4j distill writes it), OUT/metrics.json (one "
                        + "add4j eval report per model) and OUT/grids/. Prints the report's path at the end."})
public final class DemoCommand implements Callable<Integer> {
    /** Step counts of the rows: the teacher's few-step failure, its full quality, and the student's range. */
    static final List<Integer> TEACHER_STEPS = List.of(1, 4, 50), STUDENT_STEPS = List.of(1, 2, 4), SHIPPED_STEPS = List.of(1, 4);
    static final String REPORT = "index.html", METRICS = "metrics.json", RUN = "run", GRIDS = "grids";
    /**
     * Images per sampling and eval-net batch. [choice] Measured here (the teacher's UNet, one CPU thread): 9-10 ms
     * per image and pass at batch 25 to 100, 41-75 ms at 250 (add4j eval's default), whose activations no longer
     * fit the caches; 50 also keeps the demo's memory small.
     */
    static final int EVAL_BATCH = 50;

    /**
     * Restarts of the training from its last checkpoint after a non-finite loss, and iterations between checkpoints.
     * [choice] Measured here: 3 sporadic NaN in about 500 demo iterations (none of them again when the same
     * iterations ran from the checkpoint), so 5 restarts leave a 150-iteration run well under a 1 % chance of
     * failing, and a restart repeats at most 24 iterations.
     */
    static final int MAX_RESTARTS = 5, CHECKPOINT_EVERY = 25;

    @Option(names = "--out", defaultValue = "report", paramLabel = "DIR",
            description = "Where the report goes: a new or empty directory unless --force (default: ${DEFAULT-VALUE}).") Path out;
    @Option(names = "--iterations", defaultValue = "150",
            description = "ADD iterations of the demo's run (default: ${DEFAULT-VALUE}; add4j distill's full run: 1000).") int iterations;
    @Option(names = "--batch", defaultValue = "32", description = "Images per ADD iteration (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--n", defaultValue = "300",
            description = "Images per evaluated row, a multiple of 10 (default: ${DEFAULT-VALUE}; add4j eval's: 1000).") int n;
    @Option(names = "--preset", defaultValue = "add4j", paramLabel = "add4j|paper", description = "The run's settings: "
            + "add4j's recipe, as add4j distill's defaults, or exactly the paper's (default: ${DEFAULT-VALUE}).") String preset;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the run, the prompts and image 0 (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--dataset", defaultValue = "fmnist", paramLabel = "fmnist|emoji", description = "Whose shipped models and "
            + "data to use: Fashion-MNIST's (in the jar), or the emoji set's (data/emoji, from add4j data emoji); the options "
            + "below replace any of them (default: ${DEFAULT-VALUE}).") String dataset;
    @Option(names = "--data", paramLabel = "embedded|DIR", description = "Training and test images: Fashion-MNIST (the "
            + "4,000-image subset in the jar, 'embedded', or a directory) or a captioned folder with a test split "
            + "(default: embedded; data/emoji for --dataset emoji).") String data;
    @Option(names = "--teacher", paramLabel = "FILE", description = "The teacher (default: models/teacher-DATASET.safetensors).") Path teacher;
    @Option(names = "--features", paramLabel = "FILE", description = "The discriminator's frozen feature ViT (default: models/features-DATASET.safetensors).") Path features;
    @Option(names = "--eval-net", paramLabel = "FILE", description = "The eval net of the metrics (default: models/evalnet-DATASET.safetensors).") Path evalNet;
    @Option(names = "--shipped-student", paramLabel = "FILE",
            description = "A fully trained student to show beside the demo's, at 1 and 4 steps (default: models/student-DATASET.safetensors when it exists).") Path shippedStudent;
    @Option(names = "--caption-cache", hidden = true, paramLabel = "FILE",
            description = "Cache of the training captions' MiniLM embeddings, as add4j distill's (the tests share one).") Path captionCache;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;

    /** What the metrics compare with, and a prompt of the data for the commands on the page; set by the evaluation. */
    private String testName, examplePrompt;

    /** A model to evaluate: its label on the page, its file name stem under grids/, the file, the step counts. */
    private record Entry(String label, String slug, Path file, List<Integer> steps, ModelFile.Loaded loaded) {}

    @Override
    public Integer call() {
        // every check on the input comes before anything is loaded, computed or written
        if (iterations < 1) throw new Add4jException("--iterations must be >= 1, got " + iterations);
        if (batch < 2) throw new Add4jException("--batch must be >= 2, got " + batch);
        Dataset set = Dataset.parse(dataset);
        data = set.data(data);
        TestData.checkN(data, "--n", n);
        Outputs.directory(out, force.force);
        Path teacherFile = Dataset.existing(teacher, set.teacher(), "--teacher", "add4j train-teacher --out DIR");
        Path featuresFile = Dataset.existing(features, set.features(), "--features", "add4j train-features --out " + set.features());
        Path netFile = Dataset.existing(evalNet, set.evalNet(), "--eval-net", "add4j train-eval-net --out " + set.evalNet());
        Path shipped = shippedStudent != null ? Dataset.existing(shippedStudent, null, "--shipped-student", "add4j distill --out DIR")
                : Files.isRegularFile(set.student()) ? set.student() : null;
        AddConfig.Preset recipe = AddConfig.Preset.parse(preset);
        AddConfig cfg = recipe.config(iterations, batch, seed);
        TestData testData = TestData.open(data);   // bad data fails here; a folder's pictures are converted below

        List<HtmlReport.Phase> phases = new ArrayList<>();
        List<String> restarts = new ArrayList<>();
        long t = System.nanoTime();
        Device device = deviceOption.init();
        // as in serve: libtorch warns "Could not initialize NNPACK" on each CPU convolution where NNPACK cannot run,
        // and the convolutions it falls back to are what runs then anyway
        torch.globalContext().setUserEnabledNNPACK(false);
        Path runDir = out.resolve(RUN);
        ModelFile.Loaded teacherModel = ModelFile.load(teacherFile, device);
        if (teacherModel.isStudent()) throw new Add4jException("--teacher " + teacherFile + ": expected a teacher model, got a student");
        VPredictionModel t0 = teacherModel.model();
        if (!testData.isFolder()) ModelFile.requireFashionMnistShape(t0, "--teacher " + teacherFile, "demo");
        String teacherName = "the teacher " + teacherFile;
        Vit vit = Vit.load(featuresFile);
        ModelFile.requireSameShape(t0, teacherName, vit.config().channels(), vit.config().imageSize(), "--features " + featuresFile);
        EvalNet.Loaded net = EvalNet.load(netFile, device);
        net.requireShape(t0.channels(), t0.imageSize(), "--teacher " + teacherFile);
        if (shipped != null) {
            try (var scope = new PointerScope()) {
                VPredictionModel s = ModelFile.load(shipped, device).model();
                if (shippedStudent == null && (s.channels() != t0.channels() || s.imageSize() != t0.imageSize())) {
                    System.out.printf(Locale.ROOT, "demo: %s left out: it makes %d x %d px images, the teacher %d x %d px%n",
                            shipped, s.channels(), s.imageSize(), t0.channels(), t0.imageSize());
                    shipped = null;
                } else {
                    ModelFile.requireSameShape(t0, teacherName, s.channels(), s.imageSize(), "--shipped-student " + shipped);
                }
            }
        }
        TrainingData train = TrainingData.load(data, CaptionTable.TRAIN, t0.channels(), t0.imageSize(), System.out);
        String dataName = train.hasClasses() ? FashionMnist.describe(data) : "captioned folder " + data;
        System.out.printf(Locale.ROOT, "demo: teacher %s, feature ViT %s, eval net %s, %s (%,d training images), device %s, %d threads%n",
                teacherFile, featuresFile, netFile, dataName, train.size(), device.str().getString(), torch.get_num_threads());
        try { // only now, so that a file that fails to load leaves no directory behind
            Files.createDirectories(runDir);
            Files.createDirectories(out.resolve(GRIDS));
        } catch (IOException e) {
            throw new Add4jException("--out " + out + ": cannot create the directory (" + e.getMessage() + ")", e);
        }

        // 1. a short ADD run, exactly as add4j distill makes one
        double trainSeconds;
        try (var scope = new PointerScope(); CaptionedImages images = train.captioned(captionCache, device)) {
            phases.add(phase("load teacher, feature ViT, captions", t));
            t = System.nanoTime();
            var prov = Provenance.of(Main.invocation());
            prov.put("add4j.teacher", teacherFile.toString());
            prov.put("add4j.features", featuresFile.toString());
            prov.put("add4j.data", train.describe());
            long sampleEvery = Math.max(1, iterations / 3), logEvery = Math.max(1, iterations / 30);
            var monitor = new AddTrainer.Monitor(sampleEvery, 0, null);
            System.out.printf(Locale.ROOT, "demo 1/3: ADD distillation into %s: %d iterations at batch %d (preset %s, lambda %.1f, "
                    + "student timesteps %s), sample grids every %d%n", runDir, iterations, batch, recipe.cliName(), cfg.paper().lambda(), cfg.paper().studentTimesteps(), sampleEvery);
            try (AddTrainer trainer = new AddTrainer(cfg, teacherModel, vit, images, runDir, false, prov, monitor)) {
                trainer.writeSamples(0);                                   // the starting point: the student is the teacher here
                try {
                    trainer.train(0, CHECKPOINT_EVERY, logEvery, MAX_RESTARTS);
                } catch (TrainLoop.NonFinite e) {
                    throw new Add4jException(e.what() + " (after " + MAX_RESTARTS + " restarts from the last checkpoint): stopping; try another --seed");
                }
                restarts.addAll(trainer.loop().restarts());
            }
            trainSeconds = (System.nanoTime() - t) / 1e9;
            phases.add(new HtmlReport.Phase(String.format(Locale.ROOT, "ADD distillation (%d iterations at batch %d)", iterations, batch), trainSeconds));
        }

        // 2. teacher and students measured as add4j eval measures them, on one set of prompts and seeds
        List<Entry> entries = new ArrayList<>();
        entries.add(new Entry("teacher", "teacher", teacherFile, TEACHER_STEPS, teacherModel));
        entries.add(new Entry("demo student", "demo-student", runDir.resolve(AddTrainer.MODEL), STUDENT_STEPS, null));
        if (shipped != null) entries.add(new Entry("shipped student", "shipped-student", shipped, SHIPPED_STEPS, null));
        List<HtmlReport.Model> models = new ArrayList<>();
        List<Evaluation.Report> reports = new ArrayList<>();
        t = System.nanoTime();
        try (var scope = new PointerScope(); TextEncoder text = new TextEncoder()) {
            Evaluation.Setup setup = testData.setup(net, text, device, n, seed, EVAL_BATCH, System.out);
            Evaluation.Prompts prompts = setup.prompts();
            testName = setup.reference().description();
            examplePrompt = prompts.prompts().get(0);
            phases.add(phase("eval net and reference statistics", t));
            System.out.printf(Locale.ROOT, "demo 2/3: evaluation, %d %s images per row%n", n, testData.isFolder() ? "test-caption" : "class-balanced");
            for (Entry e : entries) {
                t = System.nanoTime();
                ModelFile.Loaded model = e.loaded() != null ? e.loaded() : ModelFile.load(e.file(), device);
                List<Evaluation.Row> rows = new ArrayList<>();
                Map<Integer, String> grids = new LinkedHashMap<>();
                for (int s : e.steps()) {
                    try (var rowScope = new PointerScope()) {
                        Evaluation.Result r = Evaluation.evaluate(setup, model, s, 0.0, progress(e.label(), s, model));
                        rows.add(r.row());
                        String link = GRIDS + "/" + e.slug() + "-steps-" + s + ".png";
                        Images.writePng(out.resolve(link), Evaluation.grid(r.images(), prompts));
                        grids.put(s, link);
                        System.out.printf(Locale.ROOT, "%s, %s: FID %.2f, CLIP score %.2f, class accuracy %.3f, %.1f ms/image%n",
                                e.label(), steps(s), r.row().fid(), r.row().clipScore(), r.row().classAccuracy(), r.row().msPerImage());
                    }
                }
                Evaluation.Report report = new Evaluation.Report(e.file().toString(), netFile.toString(), testName, seed, rows);
                reports.add(report);
                models.add(new HtmlReport.Model(e.label(), about(e, model), report, grids));
                phases.add(phase("evaluate " + e.label() + " at " + e.steps().stream().map(String::valueOf).collect(Collectors.joining(", ")) + " steps", t));
            }
        }

        // 3. the report
        AtomicFiles.writeString(out.resolve(METRICS), Json.write(reports) + "\n");
        Path page = out.resolve(REPORT);
        HtmlReport.write(page, new HtmlReport.Content("add4j demo: Adversarial Diffusion Distillation on "
                        + (train.hasClasses() ? "Fashion-MNIST" : "captioned folder " + data),
                settings(cfg, recipe, teacherFile, featuresFile, netFile, train, device, restarts), models,
                HtmlReport.readLog(runDir.resolve(AddTrainer.LOG)), trainingSamples(runDir),
                commands(iterations / trainSeconds, shipped != null, set, train.hasClasses(), teacherFile, netFile), phases));
        for (Evaluation.Report r : reports) System.out.print(r.model() + "\n" + Evaluation.table(r.rows()));
        double total = phases.stream().mapToDouble(HtmlReport.Phase::seconds).sum();
        System.out.println("demo 3/3: wall time " + phases.stream().map(p -> String.format(Locale.ROOT, "%s %.1f s", p.name(), p.seconds()))
                .collect(Collectors.joining("; ")) + String.format(Locale.ROOT, "; total %.1f s (%s)", total, TrainLoop.duration(total)));
        System.out.println("report: " + page.toAbsolutePath().normalize());
        return 0;
    }

    private static HtmlReport.Phase phase(String name, long startNanos) {
        return new HtmlReport.Phase(name, (System.nanoTime() - startNanos) / 1e9);
    }

    /** "ddim, models/teacher-fmnist.safetensors" or "add, timesteps 999,749,499,249, report/run/student.safetensors". */
    private static String about(Entry e, ModelFile.Loaded model) {
        if (!model.isStudent()) return "DDIM sampler, " + e.file();
        List<Integer> own = model.studentTimesteps();
        return "ADD sampler" + (own == null ? "" : ", trained at t = " + own.stream().map(String::valueOf).collect(Collectors.joining(", ")))
                + (model.metadata().containsKey("add4j.steps") ? ", " + model.metadata().get("add4j.steps") + " iterations" : "")
                + ", " + e.file();
    }

    /** "teacher, 50 steps (ddim): 250/500 images, 390.1 ms/image, ETA 98 s", at most every 15 s; the row's result line ends it. */
    private static Evaluation.Progress progress(String label, int steps, ModelFile.Loaded model) {
        String sampler = model.plan(steps).samplerName();
        double[] printed = {0};
        return (done, total, seconds) -> {
            if (done == total || seconds - printed[0] < 15) return;
            printed[0] = seconds;
            System.out.printf(Locale.ROOT, "%s, %s (%s): %d/%d images, %.1f ms/image, ETA %.0f s%n",
                    label, steps(steps), sampler, done, total, seconds * 1e3 / done, seconds / done * (total - done));
        };
    }

    private Map<String, String> settings(AddConfig cfg, AddConfig.Preset recipe, Path teacherFile, Path featuresFile, Path netFile,
                                         TrainingData train, Device device, List<String> restarts) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("command", Main.invocation());
        m.put("teacher", teacherFile.toString());
        m.put("discriminator features", cfg.extras().discBackbone().teacher()
                ? "the teacher's encoder at t <= " + cfg.extras().discBackbone().tMax() + "; image embedding from " + featuresFile + " (frozen ViT)"
                : featuresFile + " (frozen ViT)");
        m.put("data", "training: " + train.describe() + "; test: " + testName);
        m.put("distillation", String.format(Locale.ROOT, "%d iterations at batch %d; preset %s: adversarial + distillation loss "
                        + "(lambda %.1f, %s weighting)%s, R1 gamma %.0e, DiffAugment %s, conditioning %s, student timesteps %s, "
                        + "student from the teacher's weights; student Adam lr %.0e, heads' Adam lr %.0e, EMA %.2f; seed %d",
                cfg.steps(), cfg.batch(), recipe.cliName(), cfg.paper().lambda(), cfg.paper().weighting().name().toLowerCase(Locale.ROOT),
                cfg.regression() ? String.format(Locale.ROOT, " + %.0f x regression on %d pairs of the teacher's %d-step DDIM",
                        cfg.extras().regWeight(), cfg.warmup().pairs(), cfg.warmup().teacherSteps()) : "",
                cfg.paper().r1(), cfg.paper().diffAugment(), cfg.paper().cond().cliName(), cfg.paper().studentTimesteps(), cfg.optim().studentLr(), cfg.optim().discLr(),
                cfg.optim().emaDecay(), cfg.seed()));
        if (!restarts.isEmpty()) m.put("training restarts", String.join("; ", restarts));
        m.put("evaluation", String.format(Locale.ROOT, "%d %s images per row, seed %d, eval net %s", n,
                train.hasClasses() ? "class-balanced" : "test-caption", seed, netFile));
        m.put("device", device.str().getString() + ", " + torch.get_num_threads() + " libtorch threads, "
                + Runtime.getRuntime().availableProcessors() + " cores visible to the JVM");
        Map<String, String> prov = Provenance.of(Main.invocation());
        m.put("made", prov.get("add4j.created") + ", git commit " + prov.get("add4j.git_commit") + ", Java " + prov.get("add4j.java")
                + ", " + prov.get("add4j.os") + ", " + prov.get("add4j.libtorch"));
        return m;
    }

    /** The grids written during the run, in iteration order, linked relative to the report. */
    private static List<HtmlReport.Sample> trainingSamples(Path runDir) {
        Path dir = runDir.resolve(AddTrainer.SAMPLES);
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(f -> f.matches("step-\\d+\\.png")).sorted()
                    .map(f -> new HtmlReport.Sample(Long.parseLong(f.substring(5, f.length() - 4)), RUN + "/" + AddTrainer.SAMPLES + "/" + f))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What to run next, with this run's paths and options; bench only where this build has the command. */
    private List<HtmlReport.Command> commands(double itPerS, boolean hasShipped, Dataset set, boolean fashion, Path teacherFile, Path netFile) {
        String d = shell(data), student = shell(out.resolve(RUN).resolve(AddTrainer.MODEL).toString());
        String dataset = set == Dataset.FMNIST ? "" : " --dataset " + set.cliName, net = fashion ? "" : " --eval-net " + shell(netFile.toString());
        List<HtmlReport.Command> c = new ArrayList<>();
        c.add(new HtmlReport.Command("this report again, into a new directory (nothing saved is overwritten)",
                String.format(Locale.ROOT, "./add4j demo%s --out runs/demo-2 --iterations %d --batch %d --n %d --seed %d --data %s", dataset, iterations, batch, n, seed, d)));
        c.add(new HtmlReport.Command(String.format(Locale.ROOT, "a full distillation: 1000 iterations (about %s at this run's %.2f it/s), and a "
                        + "1-step evaluation every 100 that keeps the best student" + (fashion ? "; --data DIR trains on all 60,000 images" : ""),
                TrainLoop.duration(1000 / Math.max(itPerS, 1e-9)), itPerS),
                "./add4j distill --out runs/student --data " + d + net + " --steps 1000 --batch " + batch + " --eval-every 100 --eval-n 500"));
        c.add(new HtmlReport.Command("its student at 1, 2 and 4 steps, on 2,000 images",
                "./add4j eval --model runs/student/student-best.safetensors --steps 1,2,4 --n 2000 --data " + d + net + " --out runs/eval-student"));
        c.add(new HtmlReport.Command("16 images from this demo's student in one step",
                "./add4j sample --model " + student + " --prompt " + shell(examplePrompt) + " --steps 1 --n 16 --out out/samples-1-step"));
        c.add(new HtmlReport.Command("this demo's student in the browser, redrawing as you type, beside the teacher",
                "./add4j serve" + dataset + " --model " + student + " --teacher " + shell(teacherFile.toString()) + (fashion ? "" : " --data " + d)));
        if (hasShipped) c.add(new HtmlReport.Command("the shipped, fully trained student in the browser", "./add4j serve" + dataset));
        if (new CommandLine(new Main()).getSubcommands().containsKey("bench"))
            c.add(new HtmlReport.Command("latency and throughput of teacher and student on this machine", "./add4j bench"));
        return c;
    }

    /** "1 step", "4 steps". */
    private static String steps(int s) { return s + (s == 1 ? " step" : " steps"); }

    /** {@code s} as one shell word: unchanged when it is plain, else single-quoted. */
    static String shell(String s) { return Provenance.shell(s); }
}
