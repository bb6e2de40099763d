package dev.add4j.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.add4j.Add4jException;
import dev.add4j.add.AddConfig;
import dev.add4j.add.DiscriminatorProbe;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.disc.Discriminator;
import dev.add4j.disc.TeacherFeatures;
import dev.add4j.eval.Evaluation;
import dev.add4j.features.Vit;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Images;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * {@code add4j probe-disc}: can the discriminator's heads, on a given frozen feature network, tell real images from a
 * generator's, and how much does each DiffAugment operation hide? One {@link DiscriminatorProbe} per (backbone,
 * augmentation, generator) cell, on fakes made once per generator.
 */
@Command(name = "probe-disc", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Discriminator diagnostic: for each backbone x augmentation x generator, train fresh heads alone "
                + "(as distill's discriminator update does) on real training images vs the first 3/4 of the generator's "
                + "fakes, then measure their accuracy on real test images vs the last 1/4. Writes OUT/probe.json, "
                + "OUT/probe.md and a grid of fakes per generator (fakes-teacher-50.png: one class a column).")
public final class ProbeDiscCommand implements java.util.concurrent.Callable<Integer> {
    static final String JSON = "probe.json", MARKDOWN = "probe.md", UNTRAINED = "untrained";
    static final int MAX_TEACHER_STEPS = 50, SAMPLE_BATCH = 64, GRID_IMAGES = 80;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory: new or empty unless --force.") Path out;
    @Option(names = "--backbones", defaultValue = "untrained,models/features-fmnist.safetensors,models/features-sup-fmnist.safetensors",
            paramLabel = "LIST", description = "Frozen feature ViTs, comma-separated: files from train-features, 'untrained' "
            + "(a fresh ViT of the first file's architecture, seeded by --seed), or 'teacher[:T]' (the teacher's encoder on "
            + "images noised to t <= T, as distill --disc-features; c_img then comes from the first ViT listed) (default: ${DEFAULT-VALUE}).") String backbones;
    @Option(names = "--generators", defaultValue = "teacher@1,teacher@4,teacher@50,student@1", paramLabel = "LIST",
            description = "What makes the fakes: teacher@K (DDIM at K steps, no guidance, K in 1..50) or student@K (its "
                    + "own ADD sampler at K steps) (default: ${DEFAULT-VALUE}).") String generators;
    @Option(names = "--teacher", defaultValue = "models/teacher-fmnist.safetensors", paramLabel = "FILE",
            description = "The teacher (default: ${DEFAULT-VALUE}).") Path teacher;
    @Option(names = "--student", defaultValue = "models/student-fmnist.safetensors", paramLabel = "FILE",
            description = "The student (default: ${DEFAULT-VALUE}).") Path student;
    @Option(names = "--augment", defaultValue = "none,all", paramLabel = "LIST", description = "DiffAugment policies, "
            + "comma-separated: none, all, colour, translation, cutout, or a '+'-joined subset such as colour+cutout "
            + "(default: ${DEFAULT-VALUE}).") String augment;
    @Option(names = "--iterations", defaultValue = "100", paramLabel = "N", description = "Head updates per cell (default: ${DEFAULT-VALUE}).") int iterations;
    @Option(names = "--batch", defaultValue = "64", paramLabel = "B", description = "Pairs per update: B real and B fake images (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--n-fake", defaultValue = "512", paramLabel = "N", description = "Fakes per generator: the first 3/4 "
            + "train the heads, the last 1/4 are held out (default: ${DEFAULT-VALUE}).") int nFake;
    @Option(names = "--cond", defaultValue = "text+img", paramLabel = "text+img|text|img|none|text+img-if-seen",
            description = "The heads' conditioning, as distill's (default: ${DEFAULT-VALUE}).") String cond;
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, or 'embedded' for the shipped subset (default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).") String data;
    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of the captions, noise, real images and heads (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--backbone-lr", defaultValue = "0", paramLabel = "LR", description = "0: the ViT backbone stays frozen "
            + "(the paper); else a copy of it trains with the heads at this learning rate, R1 on the pixels (not in the paper; "
            + "in distill it gave no gain, models/README.md) (default: ${DEFAULT-VALUE}).") double backboneLr;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;

    /** A generator of fakes: the teacher or the student at {@code steps} steps. */
    record Generator(boolean isStudent, int steps) {
        String name() { return (isStudent ? "student" : "teacher") + "@" + steps; }
        String gridFile() { return "fakes-" + name().replace('@', '-') + ".png"; }
    }

    /** A backbone as the option names it: "untrained", a file, or "teacher[:T]" (the teacher's encoder; tMax >= 0). */
    record Backbone(String option, Path file, int tMax) {
        Backbone(String option, Path file) { this(option, file, -1); }
        boolean teacher() { return tMax >= 0; }
        /** The table's name: "untrained", "teacher:T", or the file name without its extension. */
        String label() {
            return teacher() ? "teacher:" + tMax : file == null ? UNTRAINED : file.getFileName().toString().replaceFirst("\\.safetensors$", "");
        }
    }

    /** One cell of {@code probe.json}. Accuracies are per token, over every head's tokens (as distill's d_acc). */
    public record Cell(String backbone, String augmentation, String generator, int iterations, int batch,
                       @JsonProperty("train_accuracy") double trainAccuracy,
                       @JsonProperty("held_out_accuracy") double heldOutAccuracy,
                       @JsonProperty("per_head_held_out_accuracy") List<Double> perHeadHeldOutAccuracy,
                       double seconds) {
        public Cell { perHeadHeldOutAccuracy = List.copyOf(perHeadHeldOutAccuracy); }
    }

    /** How one generator's fakes were made. */
    public record Fakes(String generator, String model, String sampler, List<Integer> timesteps, double seconds, String grid) {
        public Fakes { timesteps = List.copyOf(timesteps); }
    }

    /**
     * The content of {@code probe.json}.
     * @param trainAccuracyNote what {@code train_accuracy} averages
     */
    public record Report(String command, String data, String cond, long seed,
                         @JsonProperty("n_fake") int nFake, @JsonProperty("n_train") int nTrain, @JsonProperty("n_held_out") int nHeldOut,
                         @JsonProperty("train_accuracy_note") String trainAccuracyNote,
                         List<Fakes> fakes, List<Cell> cells) {
        public Report {
            fakes = List.copyOf(fakes);
            cells = List.copyOf(cells);
        }
    }

    @Override
    public Integer call() {
        if (iterations < 1) throw new Add4jException("--iterations must be >= 1, got " + iterations);
        if (!(backboneLr >= 0) || Double.isInfinite(backboneLr)) throw new Add4jException("--backbone-lr must be finite and >= 0, got " + backboneLr);
        if (batch < 2) throw new Add4jException("--batch must be >= 2, got " + batch);
        if (nFake < 8) throw new Add4jException("--n-fake must be >= 8, got " + nFake);
        Cond condition = Cond.parse(cond);
        List<Backbone> nets = parseBackbones(backbones);
        if (backboneLr > 0 && nets.stream().anyMatch(Backbone::teacher))
            throw new Add4jException("--backbone-lr: trains a copy of a feature ViT; the teacher's encoder stays frozen (drop teacher from --backbones)");
        List<DiffAugment.Policy> policies = parsePolicies(augment);
        List<Generator> gens = parseGenerators(generators);
        Outputs.directory(out, force.force);
        boolean needsTeacher = gens.stream().anyMatch(g -> !g.isStudent()) || nets.stream().anyMatch(Backbone::teacher), needsStudent = gens.stream().anyMatch(Generator::isStudent);
        if (needsTeacher) existing(teacher, "--teacher", "add4j train-teacher --out DIR");
        if (needsStudent) existing(student, "--student", "add4j distill --out DIR");
        FashionMnist.Split trainSplit = FashionMnist.load(data, true), testSplit = FashionMnist.load(data, false);
        Device device = deviceOption.init();
        ModelFile.Loaded teacherModel = needsTeacher ? model(teacher, "--teacher", false) : null;
        ModelFile.Loaded studentModel = needsStudent ? model(student, "--student", true) : null;
        for (Generator g : gens)
            if (g.isStudent() && g.steps() > studentModel.studentTimesteps().size())
                throw new Add4jException("--generators " + g.name() + ": the student " + student + " has "
                        + studentModel.studentTimesteps().size() + " timesteps, so K must be in 1.." + studentModel.studentTimesteps().size());
        List<Vit> vits = loadBackbones(nets, device);

        int nTrain = nFake * 3 / 4, nHeld = nFake - nTrain;
        Evaluation.Prompts prompts = prompts(nFake, seed);
        List<Fakes> fakesMade = new ArrayList<>();
        List<Cell> cells = new ArrayList<>();
        try (var run = new PointerScope(); TextEncoder text = new TextEncoder()) {
            // pair i: caption i, a real image of its class (training split for the first 3/4, test split after) and fake i
            Tensor realTrain = realImages(trainSplit, prompts.classes().subList(0, nTrain), seed + 1).to(device, torch.ScalarType.Float);
            Tensor realHeld = realImages(testSplit, prompts.classes().subList(nTrain, nFake), seed + 2).to(device, torch.ScalarType.Float);
            TextEncoder.Embedding e = text.encode(prompts.prompts());
            TextCond captions = new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
            TextCond trainText = captions.select(range(0, nTrain, device)), heldText = captions.select(range(nTrain, nFake, device));
            System.out.printf("probe-disc: %d fakes per generator (%d train the heads, %d held out), %d backbones x %d "
                            + "augmentations x %d generators, %d iterations of batch %d, cond %s, device %s%n",
                    nFake, nTrain, nHeld, nets.size(), policies.size(), gens.size(), iterations, batch, condition.cliName(), device.str().getString());
            createDirectories(out);
            Map<Generator, Tensor> fakes = new LinkedHashMap<>();
            for (Generator g : gens) {
                ModelFile.Loaded m = g.isStudent() ? studentModel : teacherModel;
                SamplingPlan plan = m.plan(g.steps());
                long t0 = System.nanoTime();
                fakes.put(g, makeFakes(g, m, plan, prompts, text, device));                               // [N,1,32,32]
                fakesMade.add(new Fakes(g.name(), (g.isStudent() ? student : teacher).toString(), plan.samplerName(), plan.timesteps(),
                        (System.nanoTime() - t0) / 1e9, g.gridFile()));
            }

            int total = nets.size() * policies.size() * gens.size();
            long t0 = System.nanoTime();
            System.out.println(header());
            for (int b = 0; b < nets.size(); b++)
                for (DiffAugment.Policy policy : policies)
                    for (Generator g : gens) {
                        Tensor fake = fakes.get(g);
                        var trainPairs = new DiscriminatorProbe.Pairs(realTrain, fake.narrow(0, 0, nTrain), trainText);
                        var heldPairs = new DiscriminatorProbe.Pairs(realHeld, fake.narrow(0, nTrain, nHeld), heldText);
                        long c0 = System.nanoTime();
                        TeacherFeatures tf = nets.get(b).teacher() ? new TeacherFeatures(teacherModel.model(), nets.get(b).tMax()) : null;
                        DiscriminatorProbe.Result r = DiscriminatorProbe.run(vits.get(b), tf, trainPairs, heldPairs,
                                DiscriminatorProbe.Settings.paper(condition, policy, iterations, batch, seed).withBackboneLr(backboneLr));
                        Cell cell = new Cell(nets.get(b).option(), label(policy), g.name(), iterations, batch,
                                r.trainAccuracy(), r.heldOutAccuracy(), r.perHead(), (System.nanoTime() - c0) / 1e9);
                        cells.add(cell);
                        double elapsed = (System.nanoTime() - t0) / 1e9;                 // ETA: cells so far at their mean time
                        System.out.println(line(nets.get(b).label(), cell) + String.format(Locale.ROOT, "  [%d/%d, eta %s]",
                                cells.size(), total, TrainLoop.duration(elapsed / cells.size() * (total - cells.size()))));
                    }
        }
        Report report = new Report(Main.invocation(), FashionMnist.describe(data), condition.cliName(), seed, nFake, nTrain, nHeld,
                "mean per-token accuracy of the last " + Math.min(DiscriminatorProbe.LAST_BATCHES, iterations)
                        + " training batches, each measured before its update", fakesMade, cells);
        AtomicFiles.writeString(out.resolve(JSON), Json.write(report));
        AtomicFiles.writeString(out.resolve(MARKDOWN), markdown(report, nets, policies, gens));
        System.out.println();
        System.out.print(table(cells, nets, policies, gens));
        System.out.println("wrote " + out.resolve(JSON) + " and " + out.resolve(MARKDOWN));
        return 0;
    }

    /**
     * One generator's fakes for every caption, with progress and ETA, and a grid of the first ones (one class a column).
     * Image i uses the noise seed {@code --seed + i}, the same for every generator.
     * @return [N,1,32,32] on {@code device}, in the caller's scope
     */
    private Tensor makeFakes(Generator g, ModelFile.Loaded m, SamplingPlan plan, Evaluation.Prompts prompts, TextEncoder text, Device device) {
        Evaluation.Generated made = Evaluation.sample(m.model(), plan, 0.0, prompts, seed, Math.min(SAMPLE_BATCH, nFake), text, device,
                (done, all, sec) -> System.out.printf("  %s: %d/%d fakes, %s, eta %s%n", g.name(), done, all,
                        TrainLoop.duration(sec), TrainLoop.duration(sec / done * (all - done))));
        Tensor images = made.images();                                                                    // [N,1,32,32] CPU
        Images.writePng(out.resolve(g.gridFile()), Images.grid(images.narrow(0, 0, Math.min(GRID_IMAGES, nFake)),
                Math.min(nFake, FashionMnist.CLASSES), 2));
        return images.to(device, torch.ScalarType.Float);
    }

    private static Tensor range(int from, int to, Device device) {
        return torch.arange(Ops.s(from), Ops.s(to)).to(device, torch.ScalarType.Long);                  // [to-from]
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (java.io.IOException e) {
            throw new Add4jException("--out " + dir + ": cannot create: " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Options

    static List<Backbone> parseBackbones(String list) {
        List<Backbone> out = new ArrayList<>();
        for (String item : items(list, "--backbones")) {
            if (item.equals(UNTRAINED)) out.add(new Backbone(item, null));
            else if (item.equals("teacher") || item.startsWith("teacher:"))
                out.add(new Backbone(item, null, backboneOption(item).tMax()));
            else out.add(new Backbone(item, existing(Path.of(item), "--backbones", "add4j train-features --out FILE")));
        }
        return out;
    }

    private static AddConfig.DiscBackbone backboneOption(String item) {
        try {
            return AddConfig.DiscBackbone.parse(item);
        } catch (Add4jException e) {
            throw new Add4jException("--backbones: expected a file, untrained, teacher or teacher:T, got '" + item + "'");
        }
    }

    /** none, all, or a '+'-joined subset of colour, translation, cutout. */
    static DiffAugment.Policy parsePolicy(String item) {
        if (item.equals("none")) return DiffAugment.Policy.NONE;
        if (item.equals("all")) return DiffAugment.Policy.ALL;
        boolean c = false, t = false, cu = false;
        for (String part : item.split("\\+", -1)) {
            switch (part) {
                case "colour", "color" -> c = true;
                case "translation" -> t = true;
                case "cutout" -> cu = true;
                default -> throw new Add4jException("--augment: expected none, all, colour, translation, cutout or a "
                        + "'+'-joined subset such as colour+cutout, got '" + item + "'");
            }
        }
        return new DiffAugment.Policy(c, t, cu);
    }

    static List<DiffAugment.Policy> parsePolicies(String list) {
        List<DiffAugment.Policy> out = new ArrayList<>();
        for (String item : items(list, "--augment")) {
            DiffAugment.Policy p = parsePolicy(item);
            if (out.contains(p)) throw new Add4jException("--augment: " + label(p) + " is listed twice");
            out.add(p);
        }
        return out;
    }

    /** teacher@K or student@K; the student's upper bound is checked once its file is read. */
    static List<Generator> parseGenerators(String list) {
        List<Generator> out = new ArrayList<>();
        for (String item : items(list, "--generators")) {
            String[] kk = item.split("@", -1);
            int k;
            try {
                if (kk.length != 2 || !(kk[0].equals("teacher") || kk[0].equals("student"))) throw new NumberFormatException();
                k = Integer.parseInt(kk[1]);
            } catch (NumberFormatException e) {
                throw new Add4jException("--generators: expected teacher@K or student@K, got '" + item + "'");
            }
            boolean isStudent = kk[0].equals("student");
            if (k < 1 || (!isStudent && k > MAX_TEACHER_STEPS))
                throw new Add4jException("--generators " + item + ": K must be in 1.." + (isStudent ? "N (the student's timesteps)" : MAX_TEACHER_STEPS));
            out.add(new Generator(isStudent, k));
        }
        return out;
    }

    /**
     * The comma-separated items of a list option, trimmed (and lower-cased but for file names); an empty item or a
     * repeated one is an error.
     */
    private static List<String> items(String list, String option) {
        List<String> out = new ArrayList<>();
        for (String raw : list.split(",", -1)) {
            String item = option.equals("--backbones") ? raw.trim() : raw.trim().toLowerCase(Locale.ROOT);
            if (item.isEmpty()) throw new Add4jException(option + ": an empty item in '" + list + "'");
            if (out.contains(item)) throw new Add4jException(option + ": " + item + " is listed twice");
            out.add(item);
        }
        return out;
    }

    private static Path existing(Path f, String option, String howToMake) {
        if (!Files.isRegularFile(f)) throw new Add4jException(option + " " + f + ": no such file; make one with: " + howToMake);
        return f;
    }

    private static ModelFile.Loaded model(Path file, String option, boolean wantStudent) {
        ModelFile.Loaded m = ModelFile.load(file, new Device("cpu"));
        if (m.isStudent() != wantStudent)
            throw new Add4jException(option + " " + file + ": expected a " + (wantStudent ? "student" : "teacher") + " model, got a " + m.kind());
        ModelFile.requireFashionMnistShape(m.model(), option + " " + file, "probe-disc");
        if (wantStudent && m.studentTimesteps() == null)
            throw new Add4jException(option + " " + file + ": a student without its timesteps (" + ModelFile.STUDENT_TIMESTEPS + ")");
        return m;
    }

    /** The frozen networks; "untrained" is a fresh ViT of the first file's architecture (small() if none), seeded. */
    private List<Vit> loadBackbones(List<Backbone> nets, Device device) {
        List<Vit> out = new ArrayList<>(nets.size());
        for (Backbone b : nets) out.add(b.file() == null ? null : Vit.load(b.file()));
        Vit.Config cfg = out.stream().filter(v -> v != null).map(Vit::config).findFirst().orElse(Vit.Config.small());
        Vit first = out.stream().filter(v -> v != null).findFirst().orElse(null);
        for (int i = 0; i < out.size(); i++) {
            if (nets.get(i).teacher() && first != null) out.set(i, first);      // the ViT that gives c_img
            if (out.get(i) == null) {
                torch.manual_seed(seed);
                out.set(i, new Vit(cfg));
            }
            out.get(i).to(device);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Images

    /** n class-balanced captions (image i of class i % 10), drawn from the training captions with {@code Random(seed)}. */
    static Evaluation.Prompts prompts(int n, long seed) {
        Random rng = new Random(seed);
        List<String> p = new ArrayList<>(n);
        List<Integer> c = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            c.add(i % FashionMnist.CLASSES);
            p.add(Captions.sample(i % FashionMnist.CLASSES, rng));
        }
        return new Evaluation.Prompts(p, c);
    }

    /**
     * One real image of each class asked, [K,1,32,32] on the CPU: each class's images in a shuffled order, taken in
     * turn (again from the start when a class runs out), so a pool repeats an image only when its class is exhausted.
     */
    static Tensor realImages(FashionMnist.Split split, List<Integer> classes, long seed) {
        Random rng = new Random(seed);
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < FashionMnist.CLASSES; c++) byClass.add(new ArrayList<>());
        for (int i = 0; i < split.n(); i++) byClass.get(split.labels()[i]).add(i);
        for (List<Integer> l : byClass) java.util.Collections.shuffle(l, rng);
        int[] next = new int[FashionMnist.CLASSES], idx = new int[classes.size()];
        for (int k = 0; k < idx.length; k++) {
            List<Integer> mine = byClass.get(classes.get(k));
            if (mine.isEmpty()) throw new Add4jException("--data: no image of class " + classes.get(k) + " (" + Captions.CLASS_NAMES.get(classes.get(k)) + ")");
            idx[k] = mine.get(next[classes.get(k)]++ % mine.size());
        }
        return FashionMnist.images(split, idx);                                                          // [K,1,32,32]
    }

    // ------------------------------------------------------------------------------------------------------------
    // Tables

    /** "all", "none", or the operations joined by '+', as --augment spells them. */
    static String label(DiffAugment.Policy p) {
        if (p.equals(DiffAugment.Policy.ALL)) return "all";
        return p.toString().replace(',', '+');
    }

    private static String header() {
        return String.format(Locale.ROOT, "%-24s %-24s %-11s %8s %6s  %-34s %8s", "backbone", "augment", "generator", "held-out", "train", "per head (held-out)", "time");
    }

    private static String line(String backbone, Cell c) {
        StringBuilder heads = new StringBuilder();
        for (double h : c.perHeadHeldOutAccuracy()) heads.append(String.format(Locale.ROOT, "%.2f ", h));
        return String.format(Locale.ROOT, "%-24s %-24s %-11s %8.3f %6.3f  %-34s %7.1fs", backbone, c.augmentation(), c.generator(),
                c.heldOutAccuracy(), c.trainAccuracy(), heads.toString().strip(), c.seconds());
    }

    /** The markdown table: rows backbone x augmentation, columns generators, cells held-out accuracy. */
    static String table(List<Cell> cells, List<Backbone> nets, List<DiffAugment.Policy> policies, List<Generator> gens) {
        StringBuilder b = new StringBuilder("| backbone | augment |");
        for (Generator g : gens) b.append(' ').append(g.name()).append(" |");
        b.append("\n|---|---|").append("---:|".repeat(gens.size())).append('\n');
        for (Backbone n : nets)
            for (DiffAugment.Policy p : policies) {
                b.append("| ").append(n.label()).append(" | ").append(label(p)).append(" |");
                for (Generator g : gens)
                    for (Cell c : cells)
                        if (c.backbone().equals(n.option()) && c.augmentation().equals(label(p)) && c.generator().equals(g.name()))
                            b.append(String.format(Locale.ROOT, " %.3f |", c.heldOutAccuracy()));
                b.append('\n');
            }
        return b.toString();
    }

    static String markdown(Report r, List<Backbone> nets, List<DiffAugment.Policy> policies, List<Generator> gens) {
        Set<String> files = new LinkedHashSet<>();
        for (Backbone n : nets) if (n.file() != null) files.add(n.label() + ": `" + n.option() + "`");
        return "# Discriminator probe\n\n"
                + "Held-out accuracy of fresh discriminator heads trained alone for " + r.cells().get(0).iterations()
                + " iterations of batch " + r.cells().get(0).batch() + " (hinge + R1, as `distill`'s discriminator update), "
                + "per token over all heads: real test images vs the generator's last " + r.nHeldOut() + " of " + r.nFake()
                + " fakes, none of them seen in training. 0.5 is chance: the heads cannot tell the two apart.\n\n"
                + table(r.cells(), nets, policies, gens) + "\n"
                + (files.isEmpty() ? "" : "Backbones: " + String.join(", ", files) + ".\n")
                + "Data: " + r.data() + "; conditioning " + r.cond() + "; seed " + r.seed() + ".\n"
                + (Cond.parse(r.cond()).image() && !Cond.parse(r.cond()).imageOnlyIfSeen() ? "With an image condition the heads can also learn that a real "
                        + "image matches its own c_img (the fakes get a c_img of a real image of their class, as in training "
                        + "from pure noise), which lifts accuracy above 0.5 even against other real images; --cond text "
                        + "measures realness alone.\n" : "")
                + "\n"
                + "```\n" + r.command() + "\n```\n";
    }
}
