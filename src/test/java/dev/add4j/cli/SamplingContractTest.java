package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.eval.Evaluation;
import dev.add4j.io.Images;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import dev.add4j.serve.GenerationService;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One sampling contract (issue 19): a student trained on timesteps other than trailing ones is sampled on its own
 * timesteps by {@code add4j sample}, by the server and by {@code eval} alike, so the three give the same images.
 */
class SamplingContractTest {
    static final Device CPU = new Device("cpu");
    static final String PROMPT = "a photo of a sneaker";
    static final List<Integer> OWN = List.of(999, 899, 799, 699);   // not trailing(4) = 999, 749, 499, 249
    static final int N = 2, STEPS = 4;
    static final long SEED = 5;

    @Test void aStudentWithItsOwnTimestepsGivesTheSameImagesThroughSampleServeAndEval(@TempDir Path dir) throws Exception {
        TorchRuntime.init();
        Path file = tinyStudent(dir.resolve("student.safetensors"));
        ModelFile.Loaded loaded = ModelFile.load(file, CPU);
        assertEquals(OWN, loaded.studentTimesteps());
        assertEquals(new SamplingPlan(Samplers.Kind.ADD, OWN), loaded.plan(STEPS));

        // add4j sample: one PNG per image, seeds SEED, SEED + 1
        Path out = dir.resolve("sample");
        CliRun r = CliRun.of("sample", "--model", file.toString(), "--prompt", PROMPT, "--n", Integer.toString(N), "--steps",
                Integer.toString(STEPS), "--seed", Long.toString(SEED), "--batch", Integer.toString(N), "--device", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<int[]> sampled = new ArrayList<>();
        for (int i = 0; i < N; i++) sampled.add(pixels(Images.read(out.resolve(String.format("img-%04d.png", i)))));

        try (TextEncoder text = new TextEncoder()) {
            // serve: the student role, the same seed
            List<int[]> served = new ArrayList<>();
            try (GenerationService service = GenerationService.load(file, file, text, CPU, 4)) {
                var req = new GenerationService.Request(PROMPT, STEPS, SEED, N, GenerationService.Role.STUDENT);
                for (BufferedImage img : service.submit(req).get(120, TimeUnit.SECONDS).images()) served.add(pixels(img));
                // image-to-image follows the same timesteps: none of 999..699 is at or below 0.5 x 999
                var init = new GenerationService.Init(new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY), 0.5);
                String m = assertThrows(GenerationService.BadRequest.class, () -> service.submit(
                        new GenerationService.Request(PROMPT, STEPS, SEED, 1, GenerationService.Role.STUDENT, init))).getMessage();
                assertTrue(m.contains("below the last of the model's timesteps [999, 899, 799, 699]"), m);
            }
            // eval's sampling path, and the trailing timesteps sample and serve used to take
            Evaluation.Prompts prompts = new Evaluation.Prompts(List.of(PROMPT, PROMPT), List.of(7, 7));
            List<int[]> evaluated = new ArrayList<>(), trailing = new ArrayList<>();
            try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                Tensor own = Evaluation.sample(loaded.model(), loaded.plan(STEPS), 0, prompts, SEED, N, text, CPU,
                        Evaluation.Progress.NONE).images();                                                   // [2,1,32,32]
                Tensor old = Evaluation.sample(loaded.model(), new SamplingPlan(Samplers.Kind.ADD, Timesteps.trailing(STEPS)), 0, prompts,
                        SEED, N, text, CPU, Evaluation.Progress.NONE).images();
                assertTrue(Ops.f(own.sub(old).abs().max()) > 1e-2, "the student's own timesteps and trailing ones must give other images");
                for (BufferedImage img : Images.each(own)) evaluated.add(pixels(img));
                for (BufferedImage img : Images.each(old)) trailing.add(pixels(img));
            }
            // one code path (SamplingPlan.sample on the same denoiser, noise and batch): the same 8-bit images
            for (int i = 0; i < N; i++) {
                assertArrayEquals(evaluated.get(i), sampled.get(i), "sample vs eval, image " + i);
                assertArrayEquals(evaluated.get(i), served.get(i), "serve vs eval, image " + i);
            }
            assertFalse(java.util.Arrays.equals(trailing.get(0), sampled.get(0)), "the test tells the two plans apart");
        }
    }

    /** A tiny student whose file records {@link #OWN}; its zero-initialised layers are nudged, so images depend on t. */
    static Path tinyStudent(Path file) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(3);
            UNet net = new UNet(UNet.Config.tiny());
            for (Tensor p : net.namedParameters().values()) p.add_(torch.randn(Ops.shape(p)).mul(Ops.s(0.05)));
            ModelFile.save(file, net, "student", Map.of(ModelFile.STUDENT_TIMESTEPS, "999,899,799,699"));
        }
        return file;
    }

    /** Grey levels, row-major: band 0 (a PNG read back may come as RGB with equal bands). */
    static int[] pixels(BufferedImage img) {
        return img.getRaster().getSamples(0, 0, img.getWidth(), img.getHeight(), 0, (int[]) null);
    }
}
