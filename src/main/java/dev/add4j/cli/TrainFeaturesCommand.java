package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.CaptionClasses;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.FashionMnist;
import dev.add4j.dist.Group;
import dev.add4j.data.ImageFolder;
import dev.add4j.data.TrainingData;
import dev.add4j.features.DinoPretrainStep;
import dev.add4j.features.FeatureTrainConfig.Objective;
import dev.add4j.features.FeatureTrainConfig;
import dev.add4j.features.FeatureTrainer;
import dev.add4j.features.Knn;
import dev.add4j.features.PretrainStep;
import dev.add4j.features.Vit;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.Json;
import dev.add4j.train.RunDir;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code add4j train-features}: pretrains the discriminator's frozen feature network (a small ViT) on Fashion-MNIST
 * with DINO or with labels, reports its k-NN accuracy on the test set, and writes the backbone as safetensors.
 */
@Command(name = "train-features", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Pretrain the discriminator's feature network (ViT) with DINO self-distillation or with labels, "
                + "then measure its weighted k-NN accuracy (k = 20, cosine, CLS features) on the test images.",
                "Writes only the backbone (float16 safetensors, config and results in the metadata), atomically.",
                "DINO's loss first rises towards ln K, then falls; H(teacher) well below H(mean) means it is learning.",
                "Smoke run on a CPU: --data embedded --arch small --steps 100 --batch 64"})
public final class TrainFeaturesCommand implements Callable<Integer> {

    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory (the four .gz IDX files), 'embedded' for the 4000/1000 subset in the jar, "
                    + "or a captioned image folder (its train and test splits; each image's first caption is its class for "
                    + "k-NN and --objective supervised) (default: $ADD4J_DATA, else /usr/share/datasets/fashion-mnist).")
    String data;

    @Option(names = "--channels", paramLabel = "1|3", description = "Image channels of the ViT: 1 (grey) or 3 (RGB); "
            + "a captioned folder is converted to them (default: 1 for Fashion-MNIST, 3 for a folder).") Integer channels;
    @Option(names = "--image-size", paramLabel = "PX", description = "Side of the ViT's square images, e.g. 32 or 64, a "
            + "multiple of its patch size; a captioned folder is converted to it (default: 32).") Integer imageSize;

    @Option(names = "--objective", paramLabel = "dino|supervised", defaultValue = "dino",
            description = "Training objective (default: ${DEFAULT-VALUE}).")
    String objective;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "Where to write the backbone (.safetensors).")
    Path out;

    @Option(names = "--steps", defaultValue = "3000",
            description = "Optimisation steps (default: ${DEFAULT-VALUE}, about 13 epochs of the 60k images at batch 256).")
    int steps;

    @Option(names = "--batch", defaultValue = "256", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", description = "Peak learning rate (default: DINO's 5e-4 x batch / 256).")
    Double lr;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of initialisation, augmentations and batches (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--arch", paramLabel = "fmnist|small|tiny", defaultValue = "fmnist",
            description = "ViT size: fmnist (12 blocks, width 192, 5.4M parameters), small (4 x 64, for CPU smoke runs), tiny (tests). "
                    + "Default: ${DEFAULT-VALUE}.")
    String arch;

    @Option(names = "--stem", paramLabel = "patch|conv",
            description = "How pixels become tokens: one strided convolution per patch (ViT), or a stack of 3x3 convolutions "
                    + "(Xiao et al. 2021; faster training). Default: patch.")
    String stem;

    @Option(names = "--local-views", description = "DINO's 16 px local views per image (default: 4).")
    Integer localViews;

    @Option(names = "--masked-tokens", paramLabel = "W",
            description = "Weight of iBOT's masked-token loss on the global views' hidden patches (default: 0, off).")
    Double maskedTokens;

    @Option(names = "--targets", paramLabel = "centre|sinkhorn",
            description = "How the teacher's outputs become targets: DINO's centring, or DINOv2's Sinkhorn-Knopp (default: centre).")
    String targets;

    @Option(names = "--koleo", paramLabel = "W", description = "Weight of DINOv2's KoLeo spreading term (default: 0, off).")
    Double koleo;

    @Option(names = "--contrastive", paramLabel = "W",
            description = "Weight of an InfoNCE term between the two global views (MoCo v3 without predictor; default: 0, off).")
    Double contrastive;

    @Option(names = "--teacher-momentum", paramLabel = "M",
            description = "EMA momentum of the teacher at step 0, rising to 1 on a cosine (default: DINO's 0.996).")
    Double teacherMomentum;

    @Option(names = "--knn-train", paramLabel = "N", description = "Training images in the k-NN bank (default: all).")
    Integer knnTrain;

    @Option(names = "--knn-test", paramLabel = "N", description = "Test images classified by k-NN (default: all).")
    Integer knnTest;

    @Option(names = "--knn-every", paramLabel = "N", defaultValue = "0",
            description = "Steps between k-NN measurements during training, on the --knn-train/--knn-test images (default: 0, only at the end).")
    int knnEvery;

    @Option(names = "--checkpoint-every", paramLabel = "N", defaultValue = "250",
            description = "Steps between checkpoints in OUT's run directory (FILE.run/, next to --out); 0: none (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;

    @Option(names = "--resume", description = "Continue the run from the checkpoint in FILE.run/ (same flags).")
    boolean resume;

    @Option(names = "--max-minutes", paramLabel = "M", defaultValue = "0",
            description = "Stop after about M minutes of training with a checkpoint, to be continued with --resume (default: 0, no limit).")
    double maxMinutes;

    @Option(names = "--log-every", defaultValue = "50", description = "Steps between progress lines (default: ${DEFAULT-VALUE}).")
    int logEvery;

    @CommandLine.Mixin Main.RestartOption restarts;
    @CommandLine.Mixin Outputs.Force force;
    @CommandLine.Mixin Main.DeviceOption deviceOption;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Outputs.file(out, force.force);
        if (logEvery < 1) throw new Add4jException("--log-every must be >= 1, got " + logEvery);
        if (knnEvery < 0) throw new Add4jException("--knn-every must be >= 0, got " + knnEvery);
        if (checkpointEvery < 0) throw new Add4jException("--checkpoint-every must be >= 0, got " + checkpointEvery);
        if (!(maxMinutes >= 0)) throw new Add4jException("--max-minutes must be >= 0, got " + maxMinutes);
        int maxRestarts = restarts.checked();
        FeatureTrainConfig cfg = config();
        FeatureTrainer trainer = new FeatureTrainer(cfg);
        Group group = Group.current();                  // on several ranks: sharded batches; rank 0 measures and writes
        trainer.checkRanks(group.size());
        Path runDir = runDir(out);
        Device device = deviceOption.init();
        PrintWriter log = spec.commandLine().getOut();
        try (var scope = new PointerScope()) {                      // the images live as long as the run
            Images d = images(cfg, device);
            int bank = limit("--knn-train", knnTrain, d.trainN()), queries = limit("--knn-test", knnTest, d.testN());
            Vit.Config v = cfg.vit();
            log.printf(Locale.ROOT, "train-features: %s, ViT %d blocks x %d (patch %d, %s stem, %d x %d px), %d training images, %d steps x %d, lr %.2e, on %s%n",
                    cfg.objective().cliName(), v.depth(), v.width(), v.patchSize(), v.stem(), v.channels(), v.imageSize(), d.trainN(),
                    cfg.steps(), cfg.batch(), cfg.lr(), device.str().getString(java.nio.charset.StandardCharsets.UTF_8));
            if (d.knnSkipped() != null) log.println("k-NN accuracy left out: " + d.knnSkipped());
            log.flush();

            long started = System.nanoTime();
            try (PretrainStep step = trainer.newStep(device, d.classes())) {
                Tensor images = d.train(), labels = d.labels();                                               // [N,C,S,S], [N]
                Tensor testImages = d.test().narrow(0, 0, queries), testLabels = d.testLabels().narrow(0, 0, queries); // [M,C,S,S], [M]
                java.util.function.DoubleSupplier knnNow = d.knnSkipped() != null ? () -> Double.NaN : () -> Knn.accuracy(step.backbone(),
                        images.narrow(0, 0, bank), labels.narrow(0, 0, bank), testImages, testLabels, d.classes());
                var runSpec = new RunDir.Spec(runDir, TRAINER, "a feature-network run (--force starts it over)", cfg, cfg.steps(),
                        step.parts(), device, List.of(), null);
                RunDir dir = RunDir.open(runSpec, resume, force.force, saved -> {
                    if (!Json.write(saved.config(FeatureTrainConfig.class)).equals(Json.write(cfg)))
                        throw new Add4jException(saved.source() + ": the run was started with other settings; resume it with the same flags");
                }, null);
                double knnUntrained;
                if (dir.extra().containsKey(KNN_UNTRAINED)) {
                    knnUntrained = Double.parseDouble(dir.extra().get(KNN_UNTRAINED));
                    log.printf(Locale.ROOT, "resumed at step %d of %d from %s%n", dir.start(), cfg.steps(), runDir.resolve(Checkpoint.DIR));
                } else if (!group.isMain()) {
                    knnUntrained = Double.NaN;                                             // rank 0 measures and keeps it
                } else {
                    // the untrained network's score is the bar: random ViT features already classify far above chance
                    knnUntrained = knnNow.getAsDouble();
                    dir.extra().put(KNN_UNTRAINED, String.valueOf(knnUntrained));
                    log.printf(Locale.ROOT, "parameters: %,d in the backbone; k-NN accuracy before training: %.4f%n",
                            step.backbone().parameterCount(), knnUntrained);
                }
                log.flush();
                FeatureTrainer.Summary summary;
                long reached;
                try (FeatureTrainer.Run run = trainer.run(step, images, labels)) {
                    TrainLoop loop = new TrainLoop(List.of(run.stage())).saving(dir).console(line -> { log.println(line); log.flush(); })
                            .every(knnEvery, k -> {
                                if (k == cfg.steps()) return;                                     // measured below
                                log.printf(Locale.ROOT, "step %d  k-NN accuracy %.4f%n", k, knnNow.getAsDouble());
                                log.flush();
                            });
                    reached = loop.run(new TrainLoop.Options(logEvery, checkpointEvery, maxMinutes, maxRestarts, null));
                    summary = run.summary();
                }
                if (!group.isMain()) return 0;
                if (reached < cfg.steps()) {
                    log.printf(Locale.ROOT, "stopped after --max-minutes at step %d of %d, checkpoint in %s; continue with --resume%n",
                            reached, cfg.steps(), runDir);
                    return 0;
                }

                double knn = knnNow.getAsDouble();
                double minutes = (System.nanoTime() - started) / 60e9;
                log.printf(Locale.ROOT, "k-NN accuracy (k=%d, %d train -> %d test): %.4f (untrained %.4f)   loss %.4f -> %.4f   %.3f s/step, %.1f min in this sitting%n",
                        Knn.K, bank, queries, knn, knnUntrained, summary.firstLoss(), summary.lastLoss(), summary.secondsPerStep(), minutes);

                Map<String, String> meta = new LinkedHashMap<>();
                meta.put("objective", cfg.objective().cliName());
                meta.put("train_config", Json.write(cfg));
                meta.put("steps", String.valueOf(cfg.steps()));
                meta.put("final_loss", String.valueOf(summary.lastLoss()));
                meta.put("knn_accuracy", String.valueOf(knn));
                meta.put("knn_accuracy_untrained", String.valueOf(knnUntrained));
                meta.put("knn", "k=" + Knn.K + " T=" + Knn.TEMPERATURE + " cosine on CLS, " + bank + " train -> " + queries + " test images");
                meta.put("data", d.describe());
                meta.put("command", commandLine());
                meta.put("created", Instant.now().toString());
                step.backbone().save(out, meta);
                log.println("wrote " + out);
            }
        }
        return 0;
    }

    static final String TRAINER = "features", KNN_UNTRAINED = "knn_untrained";

    /**
     * The training and test images [N,C,S,S] in [-1,1] on the device with their classes [N] (int64): Fashion-MNIST's,
     * or a captioned folder's converted to the ViT's shape, its first captions as classes ({@link CaptionClasses}).
     * @param knnSkipped why k-NN accuracy cannot be measured (null: it can)
     */
    private record Images(Tensor train, Tensor labels, Tensor test, Tensor testLabels, int classes, String knnSkipped, String describe) {
        int trainN() { return (int) train.size(0); }
        int testN() { return (int) test.size(0); }
    }

    /** Loads --data for {@code cfg}'s ViT; bad data fails in one line before anything is written. */
    private Images images(FeatureTrainConfig cfg, Device device) {
        Vit.Config v = cfg.vit();
        if (!ImageFolder.isFolder(data)) {
            FashionMnist.Split train = FashionMnist.load(data, true), test = FashionMnist.load(data, false);
            return new Images(FeatureTrainer.images(train, train.n(), device), FeatureTrainer.labels(train, train.n(), device),
                    FeatureTrainer.images(test, test.n(), device), FeatureTrainer.labels(test, test.n(), device), FashionMnist.CLASSES, null,
                    data == null ? String.valueOf(FashionMnist.locate(null)) : data);
        }
        ImageFolder f = ImageFolder.ofOption(data);
        var conversion = f.conversion(v.channels(), v.imageSize());
        // a first use converts the folder once and says so on standard output, as train-teacher does
        ImageFolder.Split train = f.load(CaptionTable.TRAIN, conversion, System.out), test = f.load(CaptionTable.TEST, conversion, System.out);
        CaptionClasses classes = CaptionClasses.of(train);
        boolean usable = classes.usable(train.n());
        if (!usable && cfg.objective() == Objective.SUPERVISED)
            throw new Add4jException("--objective supervised on " + data + ": " + classes.whyNot(train.n()) + "; use dino");
        int[] testClasses = classes.labels(test);
        long[] known = java.util.stream.IntStream.range(0, test.n()).filter(i -> testClasses[i] >= 0).asLongStream().toArray();
        String skipped = !usable ? classes.whyNot(train.n()) : known.length == 0 ? "no test image has a first caption of the training split" : null;
        Tensor testIdx = dev.add4j.nn.Ops.fromLongs(known, known.length);
        int[] knownClasses = java.util.stream.LongStream.of(known).mapToInt(i -> testClasses[(int) i]).toArray();
        return new Images(floats(train.images(), device), longs(classes.labels(train), device),
                floats(test.images().index_select(0, testIdx), device), longs(knownClasses, device),
                Math.max(2, classes.names().size()), skipped, train.describe() + ", " + test.n() + " test images");
    }

    private static Tensor floats(Tensor u8, Device device) {
        return u8.to(device, org.bytedeco.pytorch.global.torch.ScalarType.Float).div(dev.add4j.nn.Ops.s(127.5)).sub(dev.add4j.nn.Ops.s(1));   // [N,C,S,S] in [-1,1]
    }

    private static Tensor longs(int[] v, Device device) {
        return dev.add4j.nn.Ops.fromLongs(java.util.Arrays.stream(v).asLongStream().toArray(), v.length).to(device, org.bytedeco.pytorch.global.torch.ScalarType.Long); // [N]
    }

    /** The run directory of an output file: checkpoints of {@code out.safetensors} go to {@code out.run/}. */
    static Path runDir(Path out) {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return out.resolveSibling(stem + ".run");
    }

    /** The run's config: DINO's recipe, overridden by the flags given. */
    FeatureTrainConfig config() {
        Objective o = Objective.parse(objective);
        Vit.Config v = switch (arch.toLowerCase(Locale.ROOT)) {
            case "fmnist" -> Vit.Config.fmnist();
            case "small" -> Vit.Config.small();
            case "tiny" -> Vit.Config.tiny();
            default -> throw new Add4jException("--arch: expected fmnist, small or tiny, got '" + arch + "'");
        };
        TrainingData.Shape shape = TrainingData.shape(data, channels, imageSize);
        if (shape.size() % v.patchSize() != 0)
            throw new Add4jException("--image-size " + shape.size() + ": not a multiple of the ViT's patch size " + v.patchSize());
        v = v.withImage(shape.channels(), shape.size());
        if (stem != null) {
            String st = stem.toLowerCase(Locale.ROOT);
            if (!st.equals(Vit.PATCH_STEM) && !st.equals(Vit.CONV_STEM))
                throw new Add4jException("--stem: expected patch or conv, got '" + stem + "'");
            v = v.withStem(st);
        }
        if (steps < 1) throw new Add4jException("--steps must be >= 1, got " + steps);
        if (batch < 2) throw new Add4jException("--batch must be >= 2, got " + batch);
        if (lr != null && !(lr > 0)) throw new Add4jException("--lr must be > 0, got " + lr);
        if (localViews != null && localViews < 0) throw new Add4jException("--local-views must be >= 0, got " + localViews);
        FeatureTrainConfig cfg = FeatureTrainConfig.defaults(o, v, steps, batch, seed);
        if (lr != null) cfg = cfg.withLr(lr);
        DinoPretrainStep.Config d = cfg.dino();
        if (localViews != null) d = d.withLocalViews(localViews);
        if (maskedTokens != null) {
            if (!(maskedTokens >= 0)) throw new Add4jException("--masked-tokens must be >= 0, got " + maskedTokens);
            d = d.withMaskedTokens(maskedTokens);
        }
        if (koleo != null && !(koleo >= 0)) throw new Add4jException("--koleo must be >= 0, got " + koleo);
        boolean sinkhorn = switch (targets == null ? "centre" : targets.toLowerCase(Locale.ROOT)) {
            case "centre", "center" -> false;
            case "sinkhorn" -> true;
            default -> throw new Add4jException("--targets: expected centre or sinkhorn, got '" + targets + "'");
        };
        d = d.withDinoV2(sinkhorn, koleo == null ? d.koleoWeight() : koleo);
        if (contrastive != null) {
            if (!(contrastive >= 0)) throw new Add4jException("--contrastive must be >= 0, got " + contrastive);
            d = d.withContrastive(contrastive);
        }
        if (teacherMomentum != null) {
            if (!(teacherMomentum >= 0 && teacherMomentum <= 1))
                throw new Add4jException("--teacher-momentum must be in [0,1], got " + teacherMomentum);
            d = d.withMomenta(teacherMomentum, d.centerMomentum());
        }
        cfg = cfg.withDino(d);
        return cfg;
    }

    /** The command as typed: from the root's arguments when run under {@code add4j}, which include the verb. */
    private String commandLine() {
        String args = String.join(" ", spec.root().commandLine().getParseResult().originalArgs());
        return spec.root() == spec ? "add4j train-features " + args : "add4j " + args;
    }

    /** N of an option that caps a count: all when not given. */
    static int limit(String option, Integer asked, int available) {
        if (asked == null) return available;
        if (asked < 1) throw new Add4jException(option + " must be >= 1, got " + asked);
        return Math.min(asked, available);
    }
}
