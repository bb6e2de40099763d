package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.ImageFolder;
import dev.add4j.serve.GenerationService;
import dev.add4j.serve.GenerationService.Role;
import dev.add4j.serve.GenerationService.Slot;
import dev.add4j.serve.ServeBench;
import dev.add4j.serve.ServeThreads;
import dev.add4j.serve.Server;
import dev.add4j.text.TextEncoder;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code add4j serve}: real-time text-to-image in the browser, and the HTTP API behind it. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a page that redraws images as you type a prompt, and its HTTP API "
                + "(POST /api/generate, GET /api/generate.png, GET /api/info). Prints the URL, then runs until stopped.")
public final class ServeCommand implements Callable<Integer> {
    /** Prompt examples on the page, and the seed of their choice from a folder's captions. */
    static final int EXAMPLES = Server.MAX_EXAMPLES;
    static final long EXAMPLES_SEED = 0;

    @Option(names = "--dataset", defaultValue = "fmnist", paramLabel = "fmnist|emoji", description = "Whose shipped models "
            + "to serve and whose captions the page offers as examples: Fashion-MNIST's, or the emoji set's (default: ${DEFAULT-VALUE}).") String dataset;
    @Option(names = "--model", paramLabel = "FILE",
            description = "The fast model the page samples as you type, 1-4 steps (default: models/student-DATASET.safetensors "
                    + "if it exists, else models/teacher-DATASET.safetensors).") Path model;
    @Option(names = "--teacher", paramLabel = "FILE",
            description = "The teacher to compare with, 1-50 steps (default: models/teacher-DATASET.safetensors).") Path teacher;
    @Option(names = "--data", paramLabel = "embedded|DIR", description = "Where the page's prompt examples come from: "
            + "Fashion-MNIST's captions, or a captioned folder's training captions (default: the dataset's: for emoji, "
            + "data/emoji where it exists, else the subset in the jar).") String data;
    @Option(names = "--port", defaultValue = "8080", description = "TCP port; 0 picks a free one (default: ${DEFAULT-VALUE}).") int port;
    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Address to listen on; 0.0.0.0 opens the server to the network (default: ${DEFAULT-VALUE}).") String host;
    @Option(names = "--queue", defaultValue = "" + GenerationService.DEFAULT_QUEUE,
            description = "Requests that may wait; more get HTTP 503 (default: ${DEFAULT-VALUE}).") int queue;
    @Option(names = "--bench", hidden = true, paramLabel = "N",
            description = "Measure: N sequential 1-image requests (--bench-steps, default 1) through the HTTP API, print p50/p95, exit.") Integer bench;
    @Option(names = "--bench-model", hidden = true, defaultValue = "student", description = "Role the benchmark asks for.") String benchModel;
    @Option(names = "--bench-steps", hidden = true, defaultValue = "1", description = "Steps of the benchmark's requests.") int benchSteps;
    @Option(names = "--bench-init-image", hidden = true, paramLabel = "FILE",
            description = "Benchmark image-to-image: this PNG or JPEG in every request.") Path benchInitImage;
    @Option(names = "--bench-strength", hidden = true, description = "Strength of the benchmark's image-to-image requests.") Double benchStrength;
    @Mixin PrecisionOption precision;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() throws InterruptedException, java.io.IOException {
        if (port < 0 || port > 65535) throw new Add4jException("--port must be in 0..65535, got " + port);
        if (queue < 1) throw new Add4jException("--queue must be >= 1, got " + queue);
        Dataset set = Dataset.parse(dataset);
        Path teacherFile = teacher != null ? teacher : set.teacher();
        Path studentFile = model != null ? model : Files.isRegularFile(set.student()) ? set.student() : teacherFile;
        for (Path f : new Path[]{studentFile, teacherFile})   // before the seconds spent loading the text encoder
            if (!Files.isRegularFile(f)) throw new Add4jException(f + ": no such model file"
                    + (f.startsWith("models") && model == null && teacher == null ? " (models/README.md says how the shipped ones are made)" : ""));
        List<String> examples = examples(set);
        if (benchInitImage != null && !Files.isRegularFile(benchInitImage))
            throw new Add4jException("--bench-init-image " + benchInitImage + ": no such file");
        byte[] benchInit = benchInitImage == null ? null : Files.readAllBytes(benchInitImage);
        var dtype = precision.get();
        Device device = deviceOption.init();
        // libtorch logs "Could not initialize NNPACK" on every CPU convolution where the CPU lacks what NNPACK
        // needs; a server makes thousands. Its other CPU convolutions are what runs then anyway.
        torch.globalContext().setUserEnabledNNPACK(false);
        CountDownLatch stop = new CountDownLatch(1), closed = new CountDownLatch(1);
        try (TextEncoder text = new TextEncoder();
             GenerationService service = GenerationService.load(studentFile, teacherFile, text, device, queue, dtype);
             Server server = Server.start(service, host, port, examples)) {
            if (deviceOption.threads == null && !device.is_cuda())
                service.sampleThreads(ServeThreads.leavingOneCoreFreeForSmallBatches(Runtime.getRuntime().availableProcessors()));
            System.out.println("add4j serve: " + server.url(host));
            System.out.println("  student role: " + describe(service.slot(Role.STUDENT), studentFile));
            System.out.println("  teacher role: " + describe(service.slot(Role.TEACHER), teacherFile));
            System.out.println("  prompt examples: " + String.join("; ", examples));
            System.out.flush();
            if (bench != null) {
                ServeBench.run(URI.create("http://127.0.0.1:" + server.port() + "/"), Role.parse(benchModel).wire(), benchSteps,
                        "a photo of a sneaker", benchInit, benchStrength, 10, bench, System.out);
                return 0;
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stop.countDown();
                try {
                    closed.await(10, TimeUnit.SECONDS);   // let the resources below close before the JVM halts
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "add4j-serve-stop"));
            stop.await();   // Ctrl-C: the resources above close in order (HTTP, worker, text encoder)
        } finally {
            closed.countDown();
        }
        return 0;
    }

    /**
     * The page's examples: a seeded choice of a folder's training captions, or Fashion-MNIST's class captions (any
     * other --data is Fashion-MNIST, as for every command).
     */
    private List<String> examples(Dataset set) {
        String d = set.data(data);
        return ImageFolder.isFolder(d) ? ImageFolder.ofOption(d).exampleCaptions(CaptionTable.TRAIN, EXAMPLES, EXAMPLES_SEED) : fashionExamples();
    }

    private static List<String> fashionExamples() {
        return java.util.stream.IntStream.range(0, FashionMnist.CLASSES).mapToObj(Captions::canonical).toList();
    }

    private static String describe(Slot s, Path file) {
        return String.format("%s (%s, %s, 1-%d steps)%s", file, s.kind(), s.sampler().name().toLowerCase(), s.maxSteps(),
                s.role() == Role.STUDENT && !s.kind().equals("student") ? "; no student yet: a teacher stands in" : "");
    }
}
