package dev.add4j.add;

import dev.add4j.TorchRuntime;
import dev.add4j.add.Phases.Phase;
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

import static dev.add4j.add.Phases.Phase.*;
import static org.junit.jupiter.api.Assertions.*;

class AddStepPhasesTest {
    @TempDir static Path shared;
    static CaptionedImages data;
    static ModelFile.Loaded teacher;

    @BeforeAll static void load() {
        TorchRuntime.init();
        data = new CaptionedImages(FashionMnist.load("embedded", true), shared.resolve("captions.safetensors"), new Device("cpu"));
        teacher = AddTrainerTest.tinyTeacher(shared);
    }

    @AfterAll static void close() { data.close(); }

    /** What a run gives: each iteration's statistics, then the student's and the heads' weights. */
    record Run(List<Map<String, Double>> stats, TensorVector student, TensorVector heads) {}

    /**
     * 3 iterations on fixed batches, the first a discriminator-only one (--disc-warmup 1), with a large R1 so that its
     * gradient moves the heads visibly; the first 2 told to {@code phases}, the third never.
     */
    static Run run(Path dir, Phases phases) {
        AddConfig cfg = AddConfig.paperDefaults(3, 8, 1).withPaper(p -> p.withR1(0.5)).withOptim(o -> o.withStudentLr(1e-4))
                .withExtras(x -> x.withDiscWarmup(1));
        torch.manual_seed(5);
        List<Map<String, Double>> out = new ArrayList<>();
        try (AddTrainer t = new AddTrainer(cfg, teacher, new Vit(Vit.Config.tiny()), data, dir, false, Map.of(), AddTrainer.Monitor.NONE)) {
            t.addStep().timePhases(phases);
            for (long s = 0; s < 3; s++) {
                if (s == 2) t.addStep().timePhases(Phases.NONE);
                try (var scope = new PointerScope()) {
                    CaptionedImages.Batch b = data.batch(3, s, 8, 0.0);
                    out.add(t.addStep().step(b.x0(), b.cond(), s, s > 0));          // iteration 0: the heads alone
                }
            }
            return new Run(out, copy(t.student().net().parameterVector()), copy(t.discriminator().heads().parameterVector()));
        }
    }

    static TensorVector copy(TensorVector v) {
        TensorVector c = new TensorVector();
        for (long i = 0; i < v.size(); i++) c.push_back(v.get(i).detach().clone());
        return c.retainReference();
    }

    static void assertSameWeights(TensorVector a, TensorVector b, String what) {
        assertEquals(a.size(), b.size(), what);
        for (long i = 0; i < a.size(); i++) assertTrue(torch.equal(a.get(i), b.get(i)), what + " tensor " + i + " differs");
    }

    @Test void thePhasesComeInThePapersOrderAndTellingThemChangesNoBit(@TempDir Path dir) {
        List<String> seen = new ArrayList<>();
        Phases recorder = new Phases() {
            @Override public void before(Phase p) { seen.add("+" + p); }
            @Override public void after(Phase p) { seen.add("-" + p); }
        };
        Run told = run(dir.resolve("told"), recorder), plain = run(dir.resolve("plain"), Phases.NONE);
        List<String> expected = new ArrayList<>();
        List<Phase> discOnly = List.of(NOISED_INPUT, STUDENT_PASS, DISCRIMINATOR_LOSS, R1_PENALTY, DISCRIMINATOR_UPDATE);
        for (Phase p : discOnly) expected.addAll(List.of("+" + p, "-" + p));
        for (Phase p : Phase.values()) expected.addAll(List.of("+" + p, "-" + p));                // every phase, in order
        assertEquals(expected, seen, "a disc-warmup iteration, a full one, then none told");
        assertEquals(plain.stats(), told.stats(), "the same statistics, bit for bit");
        assertTrue(told.stats().get(1).containsKey("loss_g") && told.stats().get(1).get("r1") > 0, told.stats().toString());
        assertSameWeights(plain.student(), told.student(), "student");
        assertSameWeights(plain.heads(), told.heads(), "heads");
    }
}
