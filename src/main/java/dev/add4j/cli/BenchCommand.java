package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.bench.BenchResult;
import dev.add4j.bench.Benchmark;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.features.Vit;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.io.Provenance;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code add4j bench}: sampling speed of student and teacher, and an ADD iteration split by phase. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Time sampling (student at 1, 2 and 4 steps, teacher at 50, at each --batches size: ms/image, "
                + "images/s, the speedup) and one ADD training iteration split by phase (student, teacher, discriminator, "
                + "R1) with the achieved GFLOP/s. Medians of several runs after a warm-up. Progress goes to stderr, "
                + "the table (or --json) to stdout.")
public final class BenchCommand implements Callable<Integer> {
    static final Path DEFAULT_STUDENT = Path.of("models", "student-fmnist.safetensors");

    @Option(names = "--student", paramLabel = "FILE",
            description = "The student (default: models/student-fmnist.safetensors; when that does not exist the teacher's "
                    + "network stands in, sampled with ADD's sampler).") Path student;
    @Option(names = "--teacher", paramLabel = "FILE", description = "The teacher (default: models/teacher-fmnist.safetensors).") Path teacher;
    @Option(names = "--features", paramLabel = "FILE",
            description = "The discriminator's feature ViT (default: models/features-fmnist.safetensors; when that does not "
                    + "exist a randomly initialised ViT of the shipped architecture stands in).") Path features;
    @Option(names = "--runs", defaultValue = "5", description = "Timed runs per sampling row (default: ${DEFAULT-VALUE}).") int runs;
    @Option(names = "--warmup", defaultValue = "2", description = "Untimed runs before each row and untimed ADD iterations (default: ${DEFAULT-VALUE}).") int warmup;
    @Option(names = "--row-seconds", defaultValue = "40",
            description = "A sampling row stops after the run that takes it past this many seconds, with at least one run "
                    + "(default: ${DEFAULT-VALUE}).") double rowSeconds;
    @Option(names = "--batches", defaultValue = "1,64", description = "Batch sizes of the sampling rows (default: ${DEFAULT-VALUE}).") String batches;
    @Option(names = "--teacher-steps", defaultValue = "50", description = "The teacher's DDIM steps (default: ${DEFAULT-VALUE}).") int teacherSteps;
    @Option(names = "--train-batch", defaultValue = "32", description = "Images per ADD iteration (default: ${DEFAULT-VALUE}).") int trainBatch;
    @Option(names = "--train-iterations", defaultValue = "5",
            description = "Timed ADD iterations, with and without phase timing; 0: no training rows (default: ${DEFAULT-VALUE}).") int trainIterations;
    @Option(names = "--caption-cache", paramLabel = "FILE",
            description = "Cache of the captions' MiniLM embeddings (needed where the text encoder's model is not available).") Path captionCache;
    @Option(names = "--json", description = "Print one JSON object in place of the table.") boolean json;
    @Mixin PrecisionOption precision;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() {
        var options = new Benchmark.Options(runs, warmup, rowSeconds, Benchmark.parseBatches(batches), teacherSteps, trainBatch, trainIterations,
                precision.get());
        Path teacherFile = existing(teacher != null ? teacher : DistillCommand.DEFAULT_TEACHER, "--teacher", "add4j train-teacher");
        Path studentFile = student != null ? existing(student, "--student", "add4j distill")
                : Files.isRegularFile(DEFAULT_STUDENT) ? DEFAULT_STUDENT : teacherFile;
        Path featuresFile = features != null ? existing(features, "--features", "add4j train-features --out FILE")
                : Files.isRegularFile(DistillCommand.DEFAULT_FEATURES) ? DistillCommand.DEFAULT_FEATURES : null;
        Device device = deviceOption.init();
        // libtorch logs "Could not initialize NNPACK" on every CPU convolution where the CPU lacks what NNPACK needs
        // (as in serve); the convolutions that run then are the ones that run without it
        torch.globalContext().setUserEnabledNNPACK(false);
        ModelFile.Loaded teacherModel = ModelFile.load(teacherFile, device);
        if (teacherModel.isStudent()) throw new Add4jException("--teacher " + teacherFile + ": expected a teacher model, got a student");
        ModelFile.Loaded studentModel = studentFile.equals(teacherFile) ? teacherModel : ModelFile.load(studentFile, device);
        ModelFile.requireFashionMnistShape(teacherModel.model(), "--teacher " + teacherFile, "bench");  // its ADD iteration runs on Fashion-MNIST
        ModelFile.requireFashionMnistShape(studentModel.model(), "--student " + studentFile, "bench");
        Vit vit;
        String featuresText;
        if (featuresFile != null) {
            vit = Vit.load(featuresFile);
            featuresText = featuresFile.toString();
        } else {
            torch.manual_seed(0);
            Vit.Config c = Vit.Config.small();   // the shipped feature network's architecture
            vit = new Vit(c);
            featuresText = String.format("random ViT, %d blocks x %d, patch %d (no %s; the same architecture costs the same "
                    + "whatever its weights)", c.depth(), c.width(), c.patchSize(), DistillCommand.DEFAULT_FEATURES);
        }
        String studentText = studentFile + (studentModel.isStudent() ? ""
                : " (no student yet: the teacher's network stands in, sampled with ADD's sampler)");
        BenchResult result;
        try (CaptionedImages data = new CaptionedImages(FashionMnist.loadEmbedded(true), captionCache, device)) {
            var setup = new Benchmark.Setup(studentModel, teacherModel, vit, data, device,
                    List.of(studentText, teacherFile.toString(), featuresText));
            result = Benchmark.run(setup, options, Provenance.of(Main.invocation()), System.err);
        }
        System.out.print(json ? Json.write(result) + System.lineSeparator() : Benchmark.table(result));
        return 0;
    }

    private static Path existing(Path f, String option, String howToMake) {
        if (!Files.isRegularFile(f)) throw new Add4jException(option + " " + f + ": no such file; make one with: " + howToMake);
        return f;
    }
}
