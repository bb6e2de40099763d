package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.add.AddConfig;
import dev.add4j.add.DiscriminatorProbe;
import dev.add4j.data.FashionMnist;
import dev.add4j.diffusion.TextCond;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.features.Vit;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j probe-disc} with tiny random networks on the embedded data, and the probe itself on known cases. */
class ProbeDiscCommandTest {
    @TempDir static Path shared;
    @TempDir Path dir;
    static Path teacher, student, features;

    @BeforeAll static void files() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            teacher = shared.resolve("teacher.safetensors");
            ModelFile.save(teacher, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            student = shared.resolve("student.safetensors");
            ModelFile.save(student, new UNet(UNet.Config.tiny()), "student", Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249"));
            features = shared.resolve("vit.safetensors");
            new Vit(Vit.Config.tiny()).save(features, Map.of());
        }
    }

    /** The arguments of a tiny valid probe into {@code out}; {@code override} pairs replace or (null value) drop options. */
    static String[] args(Path out, String... override) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("--out", out.toString());
        m.put("--backbones", "untrained," + features);
        m.put("--generators", "teacher@1,teacher@2,student@1");
        m.put("--teacher", teacher.toString());
        m.put("--student", student.toString());
        m.put("--augment", "none,colour+cutout");
        m.put("--iterations", "2");
        m.put("--batch", "8");
        m.put("--n-fake", "16");
        m.put("--data", "embedded");
        m.put("--device", "cpu");
        List<String> a = new ArrayList<>(List.of("probe-disc"));
        a.addAll(CliRun.options(m, override));
        return a.toArray(String[]::new);
    }

    @Test void aTinyProbeWritesEveryCellTheTablesAndAGridPerGeneratorAndRefusesToRunAgainThere() throws Exception {
        Path out = dir.resolve("probe");
        CliRun r = CliRun.of(args(out));
        assertEquals(0, r.code(), r.err() + r.out());
        ProbeDiscCommand.Report rep = Json.read(out.resolve("probe.json"), ProbeDiscCommand.Report.class);
        assertEquals(16, rep.nFake());
        assertEquals(12, rep.nTrain());
        assertEquals(4, rep.nHeldOut());
        assertTrue(rep.command().startsWith("add4j probe-disc --out " + out), rep.command());
        List<String> expected = new ArrayList<>();
        for (String b : List.of("untrained", features.toString()))
            for (String a : List.of("none", "colour+cutout"))
                for (String g : List.of("teacher@1", "teacher@2", "student@1")) expected.add(b + " | " + a + " | " + g);
        assertEquals(expected, rep.cells().stream().map(c -> c.backbone() + " | " + c.augmentation() + " | " + c.generator()).toList());
        int heads = new Vit(Vit.Config.tiny()).defaultTaps().size();
        for (ProbeDiscCommand.Cell c : rep.cells()) {
            assertEquals(2, c.iterations());
            assertEquals(8, c.batch());
            for (double acc : List.of(c.trainAccuracy(), c.heldOutAccuracy())) assertTrue(acc >= 0 && acc <= 1, c.toString());
            assertEquals(heads, c.perHeadHeldOutAccuracy().size(), c.toString());
            double mean = c.perHeadHeldOutAccuracy().stream().mapToDouble(x -> x).average().orElseThrow();
            assertEquals(mean, c.heldOutAccuracy(), 1e-9, "every head scores the same number of tokens: " + c);
            assertTrue(c.seconds() > 0);
        }
        assertEquals(List.of("ddim", "ddim", "add"), rep.fakes().stream().map(ProbeDiscCommand.Fakes::sampler).toList());
        assertEquals(List.of(999, 749, 499, 249).subList(0, 1), rep.fakes().get(2).timesteps(), "the student's own first timestep");
        for (String grid : List.of("fakes-teacher-1.png", "fakes-teacher-2.png", "fakes-student-1.png"))
            assertTrue(Files.isRegularFile(out.resolve(grid)), grid);

        String md = Files.readString(out.resolve("probe.md"));
        assertTrue(md.contains("| backbone | augment | teacher@1 | teacher@2 | student@1 |"), md);
        assertTrue(md.contains(rep.command()), "the command line");
        String vitRow = md.lines().filter(l -> l.startsWith("| vit | colour+cutout |")).findFirst().orElseThrow();
        assertEquals(String.format(java.util.Locale.ROOT, "| vit | colour+cutout | %.3f | %.3f | %.3f |",
                rep.cells().get(9).heldOutAccuracy(), rep.cells().get(10).heldOutAccuracy(), rep.cells().get(11).heldOutAccuracy()), vitRow);
        assertTrue(r.out().contains(vitRow), "the table is printed too");

        byte[] before = Files.readAllBytes(out.resolve("probe.json"));
        assertTrue(CliRun.of(args(out)).badInput().startsWith("error: --out " + out + " is not empty (it holds "));
        assertArrayEquals(before, Files.readAllBytes(out.resolve("probe.json")));
    }

    @Test void theTeachersEncoderIsABackboneToo() throws Exception {
        Path out = dir.resolve("probe-teacher");
        CliRun r = CliRun.of(args(out, "--backbones", features + ",teacher:100", "--generators", "teacher@1", "--augment", "none"));
        assertEquals(0, r.code(), r.err() + r.out());
        ProbeDiscCommand.Report rep = Json.read(out.resolve("probe.json"), ProbeDiscCommand.Report.class);
        assertEquals(List.of(features.toString(), "teacher:100"), rep.cells().stream().map(ProbeDiscCommand.Cell::backbone).toList());
        assertEquals(dev.add4j.disc.TeacherFeatures.TAPS, rep.cells().get(1).perHeadHeldOutAccuracy().size());
        assertTrue(Files.readString(out.resolve("probe.md")).contains("| teacher:100 | none |"));
        assertTrue(CliRun.of(args(dir.resolve("bad"), "--backbones", "teacher:2000")).badInput().startsWith("error: --backbones: expected"));
    }

    /**
     * The heads learn what there is to learn: constant grey "fakes" are told apart on held-out pairs, while fakes that
     * are other real images of the same classes stay at chance (measured over three seeds: 0.86-0.91 and 0.495-0.498).
     * Unconditional heads: with text+img a real image always matches its own c_img, which the heads learn to use even
     * against other real images (measured: 0.52-0.57 held-out, against 0.49-0.50 with text only or none).
     */
    @Test void heldOutAccuracyIsHighForAnObviousFakeAndAtChanceForRealAgainstReal() {
        try (var scope = new PointerScope()) {
            FashionMnist.Split train = FashionMnist.load("embedded", true), test = FashionMnist.load("embedded", false);
            int nTrain = 96, nHeld = 80;
            List<Integer> trainClasses = classes(0, nTrain), heldClasses = classes(nTrain, nHeld);
            Tensor realTrain = ProbeDiscCommand.realImages(train, trainClasses, 1), realHeld = ProbeDiscCommand.realImages(test, heldClasses, 2);
            Tensor otherTrain = ProbeDiscCommand.realImages(train, trainClasses, 3), otherHeld = ProbeDiscCommand.realImages(test, heldClasses, 4);
            TextCond textTrain = text(nTrain, 5), textHeld = text(nHeld, 6);
            torch.manual_seed(7);
            Vit vit = new Vit(Vit.Config.tiny());
            var s = DiscriminatorProbe.Settings.paper(Cond.NONE, DiffAugment.Policy.NONE, 40, 16, 0);

            DiscriminatorProbe.Result grey = DiscriminatorProbe.run(vit,
                    new DiscriminatorProbe.Pairs(realTrain, torch.zeros_like(otherTrain), textTrain),
                    new DiscriminatorProbe.Pairs(realHeld, torch.zeros_like(otherHeld), textHeld), s);
            DiscriminatorProbe.Result same = DiscriminatorProbe.run(vit,
                    new DiscriminatorProbe.Pairs(realTrain, otherTrain, textTrain), new DiscriminatorProbe.Pairs(realHeld, otherHeld, textHeld), s);
            System.out.printf("ProbeDiscCommandTest: held-out %.3f (grey) vs %.3f (real vs real); train %.3f vs %.3f%n",
                    grey.heldOutAccuracy(), same.heldOutAccuracy(), grey.trainAccuracy(), same.trainAccuracy());
            assertTrue(grey.heldOutAccuracy() > 0.75, "constant grey images are obvious fakes: " + grey);
            assertTrue(Math.abs(same.heldOutAccuracy() - 0.5) < 0.05, "real against real is chance: " + same);

            Tensor frozen = vit.parameterVector().get(0).clone();
            DiscriminatorProbe.Result trained = DiscriminatorProbe.run(vit,
                    new DiscriminatorProbe.Pairs(realTrain, torch.zeros_like(otherTrain), textTrain),
                    new DiscriminatorProbe.Pairs(realHeld, torch.zeros_like(otherHeld), textHeld), s.withBackboneLr(1e-4));
            assertTrue(trained.heldOutAccuracy() > 0.75, "a trained copy of the backbone sees them too: " + trained);
            assertTrue(torch.equal(frozen, vit.parameterVector().get(0)), "the probed network itself is left as it was");
        }
    }

    @Test void badOptionsGiveOneErrorLineNamingTheOptionAndWriteNothing() {
        Path out = dir.resolve("bad");
        assertEquals("error: --iterations must be >= 1, got 0", CliRun.of(args(out, "--iterations", "0")).badInput());
        assertEquals("error: --batch must be >= 2, got 1", CliRun.of(args(out, "--batch", "1")).badInput());
        assertEquals("error: --backbone-lr must be finite and >= 0, got -1.0", CliRun.of(args(out, "--backbone-lr", "-1")).badInput());
        assertTrue(CliRun.of(args(out, "--backbone-lr", "1e-4", "--backbones", "teacher:100")).badInput().startsWith("error: --backbone-lr: trains a copy"));
        assertEquals("error: --n-fake must be >= 8, got 7", CliRun.of(args(out, "--n-fake", "7")).badInput());
        for (String bad : List.of("flip", "colour+flip", "colour,translation,", "none+colour"))
            assertTrue(CliRun.of(args(out, "--augment", bad)).badInput().startsWith("error: --augment"), bad);
        for (String bad : List.of("teacher", "gan@1", "teacher@x", "teacher@1@2"))
            assertEquals("error: --generators: expected teacher@K or student@K, got '" + bad + "'",
                    CliRun.of(args(out, "--generators", bad)).badInput());
        for (String bad : List.of("teacher@0", "teacher@51", "student@0"))
            assertTrue(CliRun.of(args(out, "--generators", bad)).badInput().startsWith("error: --generators " + bad + ": K must be in 1.."), bad);
        assertEquals("error: --generators student@5: the student " + student + " has 4 timesteps, so K must be in 1..4",
                CliRun.of(args(out, "--generators", "teacher@1,student@5")).badInput());
        Path none = dir.resolve("none.safetensors");
        assertEquals("error: --teacher " + none + ": no such file; make one with: add4j train-teacher --out DIR",
                CliRun.of(args(out, "--teacher", none.toString())).badInput());
        assertTrue(CliRun.of(args(out, "--student", none.toString())).badInput().startsWith("error: --student " + none + ": no such file"));
        assertTrue(CliRun.of(args(out, "--backbones", "untrained," + none)).badInput().startsWith("error: --backbones " + none + ": no such file"));
        assertTrue(CliRun.of(args(out, "--teacher", student.toString())).badInput().contains("--teacher " + student + ": expected a teacher model, got a student"));
        assertTrue(CliRun.of(args(out, "--cond", "text+image")).badInput().startsWith("error: --cond"));
        assertTrue(CliRun.of(args(out, "--data", dir.resolve("no-data").toString())).badInput().startsWith("error: --data"));
        assertFalse(Files.exists(out), "nothing was written");
        // a student at 1 step needs no teacher file, and the other way round
        assertEquals(0, CliRun.of(args(dir.resolve("s"), "--generators", "student@1", "--teacher", none.toString(),
                "--backbones", features.toString(), "--augment", "none", "--iterations", "1")).code());
    }

    /** Classes of pairs {@code from}..{@code from + n - 1}: pair i is of class i % 10, as the command's captions. */
    static List<Integer> classes(int from, int n) {
        List<Integer> c = new ArrayList<>();
        for (int i = from; i < from + n; i++) c.add(i % FashionMnist.CLASSES);
        return c;
    }

    /** n random captions' conditions (the probe uses their pooled vectors). */
    static TextCond text(int n, long seed) {
        Generator g = torch.make_generator_cpu(seed);
        Tensor pooled = torch.randn(new long[]{n, 384}, new GeneratorOptional(g)).mul(Ops.s(1 / Math.sqrt(384))); // about unit length, as MiniLM's
        return new TextCond(torch.zeros(n, 4, 384), torch.ones(n, 4), pooled);
    }
}
