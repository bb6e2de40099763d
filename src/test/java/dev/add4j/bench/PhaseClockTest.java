package dev.add4j.bench;

import dev.add4j.TorchRuntime;
import dev.add4j.add.AddConfig;
import dev.add4j.add.AddTrainer;
import dev.add4j.add.Phases;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.FashionMnist;
import dev.add4j.features.Vit;
import dev.add4j.io.ModelFile;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.TensorVector;
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

class PhaseClockTest {
    @TempDir static Path shared;
    static CaptionedImages data;
    static ModelFile.Loaded teacher;

    @BeforeAll static void load() {
        TorchRuntime.init();
        data = new CaptionedImages(FashionMnist.load("embedded", true), shared.resolve("captions.safetensors"), new Device("cpu"));
        teacher = dev.add4j.add.AddTrainerTest.tinyTeacher(shared);
    }

    @AfterAll static void close() { data.close(); }

    /** Each iteration's statistics, then a copy of every trained weight: the student's, then the heads'. */
    record Run(List<Map<String, Double>> stats, List<org.bytedeco.pytorch.Tensor> weights) {}

    /** 2 ADD iterations with the paper's settings, as the bench runs them: with {@code clock} begun and ended around each, or untimed. */
    static Run run(Path dir, PhaseClock clock) {
        torch.manual_seed(5);
        List<Map<String, Double>> stats = new ArrayList<>();
        try (AddTrainer t = new AddTrainer(AddConfig.paperDefaults(2, 8, 1), teacher, new Vit(Vit.Config.tiny()), data, dir, false,
                Map.of(), AddTrainer.Monitor.NONE)) {
            t.addStep().timePhases(clock == null ? Phases.NONE : clock);
            for (long s = 0; s < 2; s++) {
                try (var scope = new PointerScope()) {
                    CaptionedImages.Batch b = data.batch(3, s, 8, 0.0);
                    if (clock != null) clock.begin();
                    stats.add(t.addStep().step(b.x0(), b.cond(), s));
                    if (clock != null) clock.end();
                }
            }
            List<org.bytedeco.pytorch.Tensor> w = new ArrayList<>();
            for (TensorVector v : List.of(t.student().net().parameterVector(), t.discriminator().heads().parameterVector()))
                for (long i = 0; i < v.size(); i++) w.add(v.get(i).detach().clone());
            return new Run(stats, w);
        }
    }

    @Test void theBenchsClockTimesTheStepTrainingRunsAndChangesNoBit(@TempDir Path dir) {
        List<Integer> syncs = new ArrayList<>();
        PhaseClock clock = new PhaseClock(() -> syncs.add(1));
        Run timed = run(dir.resolve("timed"), clock), plain = run(dir.resolve("plain"), null);
        assertEquals(plain.stats(), timed.stats(), "the same statistics, bit for bit");
        assertEquals(plain.weights().size(), timed.weights().size());
        for (int i = 0; i < plain.weights().size(); i++)
            assertTrue(torch.equal(plain.weights().get(i), timed.weights().get(i)), "weight " + i + " differs");

        assertEquals(2 * (2 + 2 * Phases.Phase.values().length), syncs.size(), "a sync at each end of every phase and of the iteration");
        assertEquals(PhaseClock.GROUPS.stream().sorted().toList(), clock.ms().keySet().stream().sorted().toList());
        double sum = clock.ms().values().stream().mapToDouble(Double::doubleValue).sum();
        assertEquals(clock.totalMs(), sum, 1e-6, "the groups add up to the iteration: " + clock.ms());
        for (String g : PhaseClock.GROUPS) assertTrue(clock.ms().get(g) > 0, g + " in " + clock.ms());
        assertTrue(clock.flops().get(PhaseClock.TEACHER) > 0 && clock.flops().get(PhaseClock.STUDENT) > 0, clock.flops().toString());
    }
}
