package dev.add4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.TorchRuntime;
import dev.add4j.cli.EvalCommand;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.Json;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The sanity checks on the metrics (SanityChecks), small: a tiny eval net trained for 200 steps on the embedded
 * subset (test accuracy about 0.7), N = 200 class-balanced test images against the 4000 embedded training images.
 */
class SanityChecksTest {
    static final int N = 200;
    @TempDir static Path dir;
    static Path netFile;
    static TextEncoder text;
    static SanityChecks.Result result;
    static double trainerTestAccuracy;

    @BeforeAll static void run() {
        TorchRuntime.init();
        text = new TextEncoder();
        FashionMnist.Split train = FashionMnist.load(FashionMnist.EMBEDDED, true), test = FashionMnist.load(FashionMnist.EMBEDDED, false);
        torch.manual_seed(21);
        EvalNet net = new EvalNet(EvalNet.Config.tiny());
        var cfg = EvalNetTrainer.Config.defaults().withSteps(200).withBatch(64).withLr(4e-3).withLogEvery(200);
        trainerTestAccuracy = EvalNetTrainer.train(net, cfg, train, test, text, new Device("cpu"), line -> {}).test().overall();
        netFile = dir.resolve("evalnet-tiny.safetensors");
        net.save(netFile, Map.of());
        try (var scope = new PointerScope()) {
            EvalNet loaded = EvalNet.load(netFile, new Device("cpu")).net();
            result = SanityChecks.run(loaded, netFile, train, test, "embedded", N, 0, text, 100, line -> {});
        }
        System.out.print(SanityChecks.table(result));
    }

    @AfterAll static void close() { text.close(); }

    static Evaluation.Metrics m(String name) { return result.get(name); }

    @Test void theBrieflyTrainedEvalNetIsFarAboveChanceSoTheAccuracyChecksMeanSomething() {
        assertTrue(result.evalNetTestAccuracy() > 0.5, "test accuracy " + result.evalNetTestAccuracy());
        // the saved net is float16: a few of 1000 predictions may flip against the float32 net the trainer measured
        assertEquals(trainerTestAccuracy, result.evalNetTestAccuracy(), 0.02);
    }

    @Test void realTestImagesHaveASmallFidAndBlurredImagesOrNoiseAMuchLargerOne() {
        // measured: real 0.04, blurred 3.2, noise 14 (32-d tiny features); a factor 10 leaves a wide margin
        double real = m(SanityChecks.REAL).fid();
        assertTrue(m(SanityChecks.BLURRED).fid() > 10 * real, "blurred " + m(SanityChecks.BLURRED).fid() + " vs real " + real);
        assertTrue(m(SanityChecks.NOISE).fid() > 10 * real, "noise " + m(SanityChecks.NOISE).fid() + " vs real " + real);
        assertTrue(m(SanityChecks.NOISE).fid() > m(SanityChecks.BLURRED).fid(), "noise is further from the data than blur");
        // KID agrees (measured: real -0.01, blurred 0.28 with a spread of 0.05 over subsets, noise 1.5)
        assertTrue(m(SanityChecks.BLURRED).kid() > m(SanityChecks.REAL).kid() + 3 * m(SanityChecks.BLURRED).kidStd(), "KID agrees");
        assertTrue(m(SanityChecks.NOISE).kid() > m(SanityChecks.BLURRED).kid());
    }

    @Test void tenClassMeansRepeatedHaveRecallNearZeroWhileRealImagesCoverTheData() {
        // each class mean repeated 20 times: its 3rd nearest neighbour is a copy, so its ball has radius 0
        assertTrue(m(SanityChecks.CLASS_MEANS).recall() < 0.05, "class means recall " + m(SanityChecks.CLASS_MEANS).recall());
        assertTrue(m(SanityChecks.REAL).recall() > 0.6, "real recall " + m(SanityChecks.REAL).recall());
        assertTrue(m(SanityChecks.REAL).precision() > 0.6, "real precision " + m(SanityChecks.REAL).precision());
    }

    @Test void classAccuracyWithTrueClassPromptsIsCloseToTheEvalNetsTestAccuracy() {
        // 200 of the 1000 test images: the binomial spread is about 0.03, so 0.1 is over 3 standard deviations
        assertEquals(result.evalNetTestAccuracy(), m(SanityChecks.REAL).classAccuracy(), 0.1);
    }

    @Test void shuffledPromptsGiveClassAccuracyNearChanceAndALowerClipScoreButTheSameFid() {
        // chance is 0.1 with balanced classes; at N = 200 its spread is about 0.02, so 0.08 is about 4 deviations
        assertEquals(0.1, m(SanityChecks.SHUFFLED).classAccuracy(), 0.08);
        assertTrue(m(SanityChecks.SHUFFLED).clipScore() < m(SanityChecks.REAL).clipScore() - 5,
                "clip " + m(SanityChecks.SHUFFLED).clipScore() + " vs " + m(SanityChecks.REAL).clipScore());
        assertEquals(m(SanityChecks.REAL).fid(), m(SanityChecks.SHUFFLED).fid(), 1e-9, "prompts do not enter the FID");
    }

    @Test void sanityCommandPrintsTheCasesAndWritesSanityJson() throws Exception {
        Path out = dir.resolve("sanity");
        int code = new CommandLine(new EvalCommand()).execute("--sanity", "--n", "50", "--eval-net", netFile.toString(),
                "--data", "embedded", "--device", "cpu", "--out", out.toString());
        assertEquals(0, code);
        JsonNode j = Json.tree(Files.readString(out.resolve("sanity.json")));
        assertEquals(50, j.get("n").asInt());
        assertEquals(5, j.get("cases").size());
        assertEquals(SanityChecks.REAL, j.get("cases").get(0).get("name").asText());
        assertTrue(j.get("cases").get(0).get("metrics").has("class_accuracy"));
        assertTrue(j.get("eval_net_test_accuracy").asDouble() > 0.5);
    }
}
