package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.ablate.RunResult;
import dev.add4j.ablate.Study;
import dev.add4j.ablate.StudyDir;
import dev.add4j.ablate.StudyReport;
import dev.add4j.eval.EvalNet;
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

/** {@code add4j ablate} with tiny random networks on the embedded data: 2 iterations a row, 20 images an evaluation. */
class AblateCommandTest {
    @TempDir static Path shared;
    @TempDir Path dir;
    static Path teacher, features, supervised, evalNet;

    @BeforeAll static void files() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            teacher = shared.resolve("teacher.safetensors");
            ModelFile.save(teacher, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            features = shared.resolve("vit.safetensors");
            new Vit(Vit.Config.tiny()).save(features, Map.of());
            supervised = shared.resolve("vit-sup.safetensors");
            new Vit(Vit.Config.tiny()).save(supervised, Map.of());
            evalNet = shared.resolve("evalnet.safetensors");
            new EvalNet(EvalNet.Config.tiny()).save(evalNet, Map.of());
        }
    }

    /** The arguments of a tiny study into {@code out}; {@code override} pairs replace or (null value) drop options. */
    static String[] args(Path out, String... override) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("--out", out.toString());
        m.put("--rows", "c");
        m.put("--iterations", "2");
        m.put("--batch", "8");
        m.put("--n", "20");
        m.put("--teacher", teacher.toString());
        m.put("--features", features.toString());
        m.put("--supervised-features", supervised.toString());
        m.put("--ssl-features", supervised.toString());
        m.put("--eval-net", evalNet.toString());
        m.put("--device", "cpu");
        m.put("--caption-cache", shared.resolve("captions.safetensors").toString()); // encoded once for the class
        List<String> a = new ArrayList<>(List.of("ablate"));
        a.addAll(CliRun.options(m, override));
        return a.toArray(String[]::new);
    }

    /** {@code args} and then {@code flags} (options without a value). */
    static String[] plus(String[] args, String... flags) {
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of(flags));
        return a.toArray(String[]::new);
    }

    @Test void aStudyOnACaptionedColourFolderRunsItsRowsThereAndRefusesAGreyFeatureViTBeforeAnyRun() throws Exception {
        Path data = dev.add4j.data.FolderFixture.write(dir.resolve("shapes"), 200);
        RgbModels rgb = RgbModels.write(dir);
        Path rgbTeacher = rgb.teacher(), rgbVit = rgb.vit(), rgbNet = rgb.evalNet();
        Path out = dir.resolve("folder-abl");
        String[] common = {"--data", data.toString(), "--teacher", rgbTeacher.toString(), "--eval-net", rgbNet.toString(),
                "--caption-cache", null, "--n", "7", "--rows", "c"};
        String line = CliRun.of(args(out, concat(common, "--features", features.toString()))).badInput();
        assertTrue(line.contains("--features " + features + " is 1 x 32 px but the teacher " + rgbTeacher + " is 3 x 32 px"), line);
        assertFalse(Files.exists(out));

        CliRun r = CliRun.of(args(out, concat(common, "--features", rgbVit.toString())));
        assertEquals(0, r.code(), r.err() + r.out());
        StudyDir d = new StudyDir(out);
        for (String run : List.of(Study.BASE, Study.INIT_RANDOM)) {
            RunResult res = Json.read(d.result(run, 0), RunResult.class);
            assertEquals(RunResult.DONE, res.status(), run);
            assertEquals(7, res.metrics().n());
            assertTrue(res.eval().containsAll(List.of("--data", data.toString())), res.eval().toString());
        }
        assertTrue(Files.readString(out.resolve("index.html")).contains("Table 1 on captioned folder " + data));
    }

    private static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(java.util.Arrays.asList(a));   // null values drop an option (args)
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }

    @Test void aTinyStudyWritesEveryRowsRunThePageTheJsonAndTheMarkdownAndAResumeRedoesOnlyTheUnfinishedRun() throws Exception {
        Path out = dir.resolve("abl");
        CliRun r = CliRun.of(args(out));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().strip().endsWith("report: " + out.resolve("index.html").toAbsolutePath()), r.out());
        StudyDir d = new StudyDir(out);
        for (String run : List.of(Study.BASE, Study.INIT_RANDOM)) {
            assertTrue(Files.isRegularFile(d.trainDir(run, 0).resolve("student.safetensors")), run);
            assertTrue(Files.isRegularFile(d.evalDir(run, 0).resolve("metrics.json")), run);
            assertTrue(Files.isRegularFile(d.console(run, 0)), run);
            RunResult res = Json.read(d.result(run, 0), RunResult.class);
            assertEquals(RunResult.DONE, res.status());
            assertEquals(20, res.metrics().n());
            assertEquals(1, res.metrics().steps());
            assertEquals(List.of("distill", "--out", d.trainDir(run, 0).toString(), "--preset", "paper"), res.distill().subList(0, 5));
        }
        assertTrue(Json.read(d.result(Study.INIT_RANDOM, 0), RunResult.class).distill().containsAll(List.of("--student-init", "random")));

        // ablation.json: group c only, its two rows, the paper's numbers beside them, a verdict
        StudyReport rep = Json.read(out.resolve("ablation.json"), StudyReport.class);
        assertEquals(List.of("c"), rep.groups().stream().map(StudyReport.GroupReport::id).toList());
        assertEquals(2, rep.done());
        assertEquals(2, rep.total());
        StudyReport.GroupReport c = rep.groups().get(0);
        assertEquals(List.of(Study.BASE, Study.INIT_RANDOM), c.rows().stream().map(StudyReport.MemberReport::run).toList());
        assertEquals(293.6, c.rows().get(1).paper().fid());
        assertTrue(List.of(StudyReport.MATCHES, StudyReport.DIFFERS).contains(c.verdict()), c.verdict());
        assertEquals(Boolean.TRUE, c.claims().get(0).paper());
        StudyReport.RowReport random = rep.row(Study.INIT_RANDOM);
        assertEquals(Json.read(d.result(Study.INIT_RANDOM, 0), RunResult.class).metrics().fid(), random.fid().mean(), "computed, not typed in");
        assertNull(random.fid().sd(), "one seed: no spread");

        // ablation.md: the table; index.html: every image and link resolves, one grid per row, curves, commands
        String md = Files.readString(out.resolve("ablation.md"));
        assertTrue(md.startsWith("| row | FID (1 step) |"), md);
        assertTrue(md.contains("| random (`init-random`) | "), md);
        assertTrue(md.contains("293.6 / 0.065"), md);
        String html = Files.readString(out.resolve("index.html"));
        List<String> links = new ArrayList<>();
        Matcher m = Pattern.compile("(?:src|href)=\"([^\"#][^\"]*)\"").matcher(html);
        while (m.find()) links.add(m.group(1));
        for (String link : links) assertTrue(Files.isRegularFile(out.resolve(link)), link);
        assertEquals(2, links.stream().filter(l -> l.endsWith("grid-steps-1.png")).distinct().count(), links.toString());
        assertTrue(html.contains("<svg "), "curves");
        assertTrue(html.contains("./add4j distill --out " + d.trainDir(Study.INIT_RANDOM, 0)), "the exact command of each row");

        // a finished run is never done again: kill -9 left init-random half-written (no result.json), paper finished
        Path randomResult = d.result(Study.INIT_RANDOM, 0);
        Files.delete(randomResult);
        Files.writeString(d.rowDir(Study.INIT_RANDOM, 0).resolve("half-written"), "x");
        Files.writeString(d.rowDir(Study.BASE, 0).resolve("kept"), "x");
        String paperResult = Files.readString(d.result(Study.BASE, 0));
        CliRun again = CliRun.of(plus(args(out), "--resume"));
        assertEquals(0, again.code(), again.err() + again.out());
        assertTrue(again.out().contains("2 runs (1 done, 1 to run)"), again.out());
        assertTrue(again.out().contains("init-random-s0 did not finish: doing it again from the start"), again.out());
        assertFalse(again.out().contains("[paper-s0]"), "the finished run printed nothing: it did not run");
        assertEquals(paperResult, Files.readString(d.result(Study.BASE, 0)), "its result is as it was");
        assertTrue(Files.exists(d.rowDir(Study.BASE, 0).resolve("kept")));
        assertFalse(Files.exists(d.rowDir(Study.INIT_RANDOM, 0).resolve("half-written")), "the unfinished run started afresh");
        assertTrue(Files.isRegularFile(randomResult));
        assertEquals(2, Json.read(out.resolve("ablation.json"), StudyReport.class).done());

        // nothing left to do: a resume runs nothing and rewrites the report
        CliRun done = CliRun.of(plus(args(out), "--resume"));
        assertEquals(0, done.code(), done.err());
        assertTrue(done.out().contains("(2 done, 0 to run)"), done.out());

        // the same study with both runs at once gives the same numbers: the same initial weights (drawn under one lock;
        // a random student drawn after another run's draws would give another FID altogether), the same batches; only
        // float sums may run in another order (both runs share the cores and libtorch's thread pool), which has moved
        // the FID by 1e-8 to 7e-5 of itself (the latter once in a CI run)
        org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "--parallel 2 needs 2 cores");
        Path par = dir.resolve("parallel");
        CliRun p = CliRun.of(args(par, "--parallel", "2"));
        assertEquals(0, p.code(), p.err() + p.out());
        StudyDir pd = new StudyDir(par);
        for (String run : List.of(Study.BASE, Study.INIT_RANDOM)) {
            var alone = Json.read(d.result(run, 0), RunResult.class).metrics();
            var together = Json.read(pd.result(run, 0), RunResult.class).metrics();
            assertEquals(alone.fid(), together.fid(), 1e-3 * alone.fid(), run);
            assertEquals(alone.clipScore(), together.clipScore(), 1e-3 * alone.clipScore(), run);
            assertEquals(alone.classAccuracy(), together.classAccuracy(), run);
            assertEquals(alone.recall(), together.recall(), run);
        }
        assertTrue(Files.readString(pd.console(Study.INIT_RANDOM, 0)).contains("init random"), "each run's output went to its own log");
        assertFalse(Files.readString(pd.console(Study.INIT_RANDOM, 0)).contains("(init teacher)"), "and only its own");
    }

    @Test void everyRowOfBothBudgetsIsAValidDistillCommand() {
        for (Study.Budget b : Study.Budget.values()) {
            Study.Protocol p = new Study.Protocol(b.cliName(), b.iterations, b.batch, b.n, 0, Math.min(b.pairs, b.iterations * b.batch),
                    b.pairTeacherSteps, "embedded", "t", "f", "s", "ss", "e");
            for (Study.Run run : Study.runs(p, "u"))
                assertDoesNotThrow(() -> AblateCommand.check(AblateCommand.job(new StudyDir(Path.of("x")), p, run, 0, Path.of("c"), null, null)),
                        b + " " + run.name());
        }
    }

    @Test void badOptionsGiveOneErrorLineAndWriteNothing() throws Exception {
        Path out = dir.resolve("bad");
        assertTrue(CliRun.of(args(out, "--rows", "c,x")).badInput().startsWith("error: --rows: unknown group 'x'; expected a comma list of a, b, c, d, e, f, own"));
        assertEquals("error: --rows e: nothing to run (group e does not apply here)", CliRun.of(args(out, "--rows", "e")).badInput());
        assertEquals("error: --budget: expected quick or full, got 'huge'", CliRun.of(args(out, "--budget", "huge")).badInput());
        assertEquals("error: --seeds: 1 is listed twice", CliRun.of(args(out, "--seeds", "1,1")).badInput());
        assertEquals("error: --iterations must be >= 1, got 0", CliRun.of(args(out, "--iterations", "0")).badInput());
        assertTrue(CliRun.of(args(out, "--n", "25")).badInput().startsWith("error: --n must be a positive multiple of 10"));
        assertEquals("error: --parallel must be >= 1, got 0", CliRun.of(args(out, "--parallel", "0")).badInput());
        assertTrue(CliRun.of(args(out, "--parallel", "999")).badInput().startsWith("error: --parallel 999: only "));
        Path none = dir.resolve("none.safetensors");
        assertTrue(CliRun.of(args(out, "--teacher", none.toString())).badInput().startsWith("error: --teacher " + none + ": no such file"));
        assertTrue(CliRun.of(args(out, "--rows", "a", "--supervised-features", none.toString())).badInput()
                .startsWith("error: --supervised-features " + none + ": no such file"));
        assertTrue(CliRun.of(args(out, "--rows", "a", "--ssl-features", none.toString())).badInput()
                .startsWith("error: --ssl-features " + none + ": no such file"));
        assertEquals("error: --resume: " + out + " holds no ablation study (no study.json)", CliRun.of(plus(args(out), "--resume")).badInput());
        assertFalse(Files.exists(out), "nothing was written");

        Path other = dir.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("mine.txt"), "mine");
        assertTrue(CliRun.of(args(other)).badInput().startsWith("error: --out " + other + " is not empty (it holds mine.txt): pass --resume"));
        assertEquals("mine", Files.readString(other.resolve("mine.txt")));
    }

    @Test void aStudyIsOnlyResumedWithItsOwnSettingsAndNeverRestartedByForce() throws Exception {
        Path out = dir.resolve("study");
        Files.createDirectories(out);
        Study.Protocol p = new Study.Protocol("quick", 3, 8, 20, 0, 16, 8, "embedded", teacher.toString(), features.toString(),
                supervised.toString(), supervised.toString(), evalNet.toString());
        Files.writeString(out.resolve(StudyDir.STUDY), Json.write(p));
        assertTrue(CliRun.of(plus(args(out), "--resume")).badInput().startsWith("error: --resume: " + out + " was started with other settings"));
        assertEquals("error: --out " + out + " holds an ablation study: pass --resume to continue it, or choose another --out",
                CliRun.of(plus(args(out), "--force")).badInput());
        try (var files = Files.list(out)) {
            assertEquals(1, files.count(), "nothing added");
        }

        // a study another ablate holds is left alone
        Path busy = dir.resolve("busy");
        Files.createDirectories(busy);
        try (var ch = java.nio.channels.FileChannel.open(busy.resolve(StudyDir.LOCK), java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE); var lock = ch.lock()) {
            assertEquals("error: --out " + busy + ": another add4j ablate is running there (study.lock)", CliRun.of(plus(args(busy), "--force")).badInput());
        }
    }
}
