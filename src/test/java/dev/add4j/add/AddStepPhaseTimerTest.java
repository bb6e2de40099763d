package dev.add4j.add;

import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import dev.add4j.diffusion.ModelFile;
import dev.add4j.features.Vit;
import dev.add4j.train.CaptionedImages;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AddStepPhaseTimerTest {
    @TempDir static Path shared;
    static CaptionedImages data;
    static ModelFile.Loaded teacher;

    @BeforeAll static void load() {
        TorchRuntime.init();
        data = new CaptionedImages(FashionMnist.load("embedded", true), shared.resolve("captions.safetensors"), new Device("cpu"));
        teacher = AddTrainerTest.tinyTeacher(shared);
    }

    @AfterAll static void close() { data.close(); }

    /** Losses of 3 iterations on fixed batches; the first 2 with {@code timer}, the third never timed. */
    static List<Map<String, Double>> losses(Path dir, PhaseTimer timer) {
        AddConfig d = AddConfig.paperDefaults(3, 8, 1);
        // a large R1 so that its gradient moves the heads visibly
        AddConfig cfg = new AddConfig(d.studentTimesteps(), d.loss(), d.weighting(), d.cond(), d.studentInit(), 1, d.lambda(), 0.5, 0,
                d.tMin(), d.tMax(), d.diffAugment(), 3, 8, 1e-4, d.discLr(), d.emaDecay(), 1);
        torch.manual_seed(5);
        List<Map<String, Double>> out = new ArrayList<>();
        try (AddTrainer t = new AddTrainer(cfg, teacher, new Vit(Vit.Config.tiny()), data, dir, false, Map.of(), AddTrainer.Monitor.NONE);
             var scope = new PointerScope()) {
            t.addStep().timePhases(timer);
            for (long s = 0; s < 3; s++) {
                if (s == 2) t.addStep().timePhases(PhaseTimer.NONE);
                CaptionedImages.Batch b = data.batch(3, s, 8, 0.0);
                out.add(t.addStep().step(b.x0(), b.cond(), s));
            }
        }
        return out;
    }

    @Test void timedPhasesComeInOrderAndLeaveTheTrainingUnchanged(@TempDir Path dir) {
        List<String> marks = new ArrayList<>();
        List<Map<String, Double>> timed = losses(dir.resolve("timed"), marks::add), plain = losses(dir.resolve("plain"), PhaseTimer.NONE);
        List<String> one = List.of("student", "teacher", "student", "discriminator", "r1", "r1", "discriminator");
        List<String> two = new ArrayList<>(one);
        two.addAll(one);
        assertEquals(two, marks, "two timed iterations, then none");
        // R1's backward apart from the hinge's gives the same gradient up to rounding: the same losses afterwards
        for (int s = 0; s < 3; s++)
            for (String k : plain.get(s).keySet())
                assertEquals(plain.get(s).get(k), timed.get(s).get(k), 1e-4 * Math.max(1, Math.abs(plain.get(s).get(k))), k + " at step " + s);
    }
}
