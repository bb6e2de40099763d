package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.data.FolderFixture;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.Evaluation;
import dev.add4j.features.Vit;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j demo} with tiny random networks in place of the shipped ones, on the embedded data. */
class DemoCommandTest {
    @TempDir static Path shared;
    @TempDir Path dir;
    static Path teacher, features, evalNet, shipped;

    @BeforeAll static void files() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            teacher = shared.resolve("teacher.safetensors");
            ModelFile.save(teacher, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            shipped = shared.resolve("student.safetensors");
            ModelFile.save(shipped, new UNet(UNet.Config.tiny()), "student", Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249"));
            features = shared.resolve("vit.safetensors");
            new Vit(Vit.Config.tiny()).save(features, Map.of());
            evalNet = shared.resolve("evalnet.safetensors");
            new EvalNet(EvalNet.Config.tiny()).save(evalNet, Map.of());
        }
    }

    /** The arguments of a tiny valid demo into {@code out}; {@code override} pairs replace or (null value) drop options. */
    static String[] args(Path out, String... override) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("--out", out.toString());
        m.put("--teacher", teacher.toString());
        m.put("--features", features.toString());
        m.put("--eval-net", evalNet.toString());
        m.put("--shipped-student", shipped.toString());
        m.put("--iterations", "2");
        m.put("--batch", "8");
        m.put("--n", "20");
        m.put("--device", "cpu");
        m.put("--caption-cache", shared.resolve("captions.safetensors").toString()); // encoded once for the class
        List<String> a = new ArrayList<>(List.of("demo"));
        a.addAll(CliRun.options(m, override));
        return a.toArray(String[]::new);
    }

    static CliRun run(String... args) { return CliRun.of(args); }

    @Test void aTinyDemoWritesTheRunTheMetricsTheGridsAndAPageWhoseLinksAllResolve() throws Exception {
        Path out = dir.resolve("report");
        CliRun r = run(args(out));
        assertEquals(0, r.code(), r.err() + r.out());
        String[] lines = r.out().strip().split("\n");
        assertEquals("report: " + out.resolve("index.html").toAbsolutePath(), lines[lines.length - 1], "the last line names the page");
        assertTrue(Files.isRegularFile(out.resolve("run/student.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("run/metrics.jsonl")));

        Evaluation.Report[] reports = Json.read(out.resolve("metrics.json"), Evaluation.Report[].class);
        assertEquals(3, reports.length, "teacher, demo student, shipped student");
        assertEquals(List.of(1, 4, 50), reports[0].rows().stream().map(Evaluation.Row::steps).toList());
        assertEquals(List.of(1, 2, 4), reports[1].rows().stream().map(Evaluation.Row::steps).toList());
        assertEquals(List.of(1, 4), reports[2].rows().stream().map(Evaluation.Row::steps).toList());
        assertEquals(teacher.toString(), reports[0].model());
        assertEquals(out.resolve("run/student.safetensors").toString(), reports[1].model());
        assertEquals(List.of("ddim", "add", "add"), List.of(reports[0].rows().get(0).sampler(), reports[1].rows().get(0).sampler(), reports[2].rows().get(0).sampler()));
        for (Evaluation.Report rep : reports)
            for (Evaluation.Row row : rep.rows()) assertEquals(20, row.n());

        String html = Files.readString(out.resolve("index.html"));
        assertTrue(html.contains("<svg "), "loss curves");
        List<String> images = new ArrayList<>();
        Matcher m = Pattern.compile("src=\"([^\"]*)\"").matcher(html);
        while (m.find()) images.add(m.group(1));
        assertEquals(8 + 3, images.size(), "8 evaluated rows, and grids at iterations 0, 1 and 2 (sampleEvery 1 at 2 iterations): " + images);
        for (String link : images) assertTrue(Files.isRegularFile(out.resolve(link)), link);
        assertTrue(html.contains("./add4j distill --out runs/student"), "the command that goes further");
    }

    @Test void aDemoOnACaptionedColourFolderMeasuresAgainstItsTestSplitWithItsCaptionsAsPrompts() throws Exception {
        Path data = FolderFixture.write(dir.resolve("shapes"), 200);
        RgbModels rgb = RgbModels.write(dir);
        Path rgbTeacher = rgb.teacher(), rgbVit = rgb.vit(), rgbNet = rgb.evalNet();
        Path out = dir.resolve("folder-report");
        // the grey shipped student of the other tests cannot stand beside an RGB teacher: one line, nothing written
        String refused = run(args(out, "--data", data.toString(), "--teacher", rgbTeacher.toString(), "--features", rgbVit.toString(),
                "--eval-net", rgbNet.toString(), "--caption-cache", null)).badInput();
        assertTrue(refused.contains("--shipped-student " + shipped), refused);
        assertFalse(Files.exists(out));

        CliRun r = run(args(out, "--data", data.toString(), "--teacher", rgbTeacher.toString(), "--features", rgbVit.toString(),
                "--eval-net", rgbNet.toString(), "--shipped-student", null, "--caption-cache", null, "--n", "7"));
        assertEquals(0, r.code(), r.err() + r.out());
        if (Files.isRegularFile(Path.of("models/student-fmnist.safetensors")))   // the default shipped student is grey
            assertTrue(r.out().contains("models/student-fmnist.safetensors left out: it makes 1 x 32 px images, the teacher 3 x 32 px"), r.out());
        Evaluation.Report[] reports = Json.read(out.resolve("metrics.json"), Evaluation.Report[].class);
        assertEquals(2, reports.length, "teacher and demo student");
        for (Evaluation.Report rep : reports) {
            assertTrue(rep.reference().startsWith("captioned folder " + data + " (test: 20 images"), rep.reference());
            for (Evaluation.Row row : rep.rows()) {
                assertEquals(7, row.n());
                assertTrue(Double.isFinite(row.clipScore()) && Double.isNaN(row.classAccuracy()), row.toString());
            }
        }
        String html = Files.readString(out.resolve("index.html"));
        assertTrue(html.contains("Adversarial Diffusion Distillation on captioned folder " + data), "the title names the data");
        assertTrue(html.contains("--eval-net " + rgbNet), "the commands on the page name the folder's eval net");
        var grid = dev.add4j.io.Images.read(out.resolve("grids/teacher-steps-1.png"));
        assertEquals(3, grid.getRaster().getNumBands(), "colour grids");
    }

    @Test void badOptionsGiveOneErrorLineAndWriteNothing() {
        Path out = dir.resolve("bad");
        assertEquals("error: --iterations must be >= 1, got 0", run(args(out, "--iterations", "0")).badInput());
        assertEquals("error: --batch must be >= 2, got 1", run(args(out, "--batch", "1")).badInput());
        assertTrue(run(args(out, "--n", "25")).badInput().startsWith("error: --n must be a positive multiple of 10"));
        Path none = dir.resolve("none.safetensors");
        assertEquals("error: --teacher " + none + ": no such file; make one with: add4j train-teacher --out DIR",
                run(args(out, "--teacher", none.toString())).badInput());
        assertTrue(run(args(out, "--features", none.toString())).badInput().startsWith("error: --features " + none + ": no such file"));
        assertTrue(run(args(out, "--eval-net", none.toString())).badInput().startsWith("error: --eval-net " + none + ": no such file"));
        assertTrue(run(args(out, "--shipped-student", none.toString())).badInput().startsWith("error: --shipped-student " + none));
        assertTrue(run(args(out, "--data", dir.resolve("no-data").toString())).badInput().startsWith("error: "));
        assertTrue(run(args(out, "--teacher", shipped.toString())).badInput().contains("expected a teacher model, got a student"));
        assertEquals("error: --dataset: expected fmnist or emoji, got 'cifar'", run(args(out, "--dataset", "cifar")).badInput());
        assertFalse(Files.exists(out), "nothing was written");
    }

    @Test void aTeacherThatGivesNaNStopsTheDemoWithOneErrorLineAndNoReport() throws Exception {
        // every student step is skipped (AddStep skips non-finite losses); the NaN then surfaces, as one error line,
        // when the teacher's images are measured
        Path nanTeacher = dir.resolve("nan-teacher.safetensors");
        try (var scope = new PointerScope(); var g = new org.bytedeco.pytorch.NoGradGuard()) {
            UNet net = new UNet(UNet.Config.tiny());
            net.namedParameters().values().iterator().next().fill_(new org.bytedeco.pytorch.Scalar(Double.NaN));
            ModelFile.save(nanTeacher, net, "teacher", Map.of());
        }
        Path out = dir.resolve("nan");
        CliRun r = run(args(out, "--teacher", nanTeacher.toString()));
        assertTrue(r.badInput().contains("NaN"), r.err());
        assertFalse(Files.exists(out.resolve("index.html")));
    }

    @Test void anOutThatHoldsAReportOrAnUnfinishedDemoIsRefusedAndLeftAsItWas() throws Exception {
        Path out = dir.resolve("done");
        Files.createDirectories(out);
        Files.writeString(out.resolve("index.html"), "<p>mine</p>");
        assertEquals("error: --out " + out + " is not empty (it holds index.html): choose another --out, or pass --force "
                + "to write into it", run(args(out)).badInput());
        assertEquals("<p>mine</p>", Files.readString(out.resolve("index.html")));
        try (var files = Files.list(out)) {
            assertEquals(1, files.count(), "nothing added");
        }
        Path half = dir.resolve("half");
        Files.createDirectories(half.resolve("run"));
        assertTrue(run(args(half)).badInput().contains("is not empty (it holds run)"));
    }
}
