package dev.add4j.serve;

import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.Map;

/** Tiny model files for the serve tests: a tiny UNet whose zero-initialised layers are nudged, so images depend on seed and prompt. */
final class TinyModels {
    private TinyModels() {}

    private static TextEncoder text;

    /** One text encoder for all serve tests (loading MiniLM takes seconds); it lives as long as the test JVM. */
    static synchronized TextEncoder text() {
        if (text == null) text = new TextEncoder();
        return text;
    }

    /** A tiny teacher file. */
    static Path teacher(Path dir) { return save(dir.resolve("tiny-teacher.safetensors"), "teacher", Map.of(), 1); }

    /** A tiny student file, with the student's four timesteps in its metadata. */
    static Path student(Path dir) {
        return save(dir.resolve("tiny-student.safetensors"), "student", Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249"), 2);
    }

    /** A tiny teacher (seed 1) or student (seed 2) file of {@code channels} x {@code size} px images. */
    static Path model(Path file, String kind, int channels, int size) {
        Map<String, String> meta = kind.equals("student") ? Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249") : Map.of();
        return save(file, kind, meta, kind.equals("student") ? 2 : 1, channels, size);
    }

    private static Path save(Path file, String kind, Map<String, String> meta, long seed) { return save(file, kind, meta, seed, 1, 32); }

    private static Path save(Path file, String kind, Map<String, String> meta, long seed, int channels, int size) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(seed);
            UNet net = new UNet(UNet.Config.tiny().withImageChannels(channels));
            // the output conv starts at zero (v = 0 gives grey images whatever the seed): perturb every weight
            for (Tensor p : net.namedParameters().values()) p.add_(torch.randn(Ops.shape(p)).mul(Ops.s(0.05)));
            ModelFile.save(file, new dev.add4j.diffusion.VPredictionModel(net, dev.add4j.diffusion.NoiseSchedule.zeroTerminalSnr(), size), kind, meta);
        }
        return file;
    }
}
