package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class EvalNetTest {
    @TempDir Path dir;

    @BeforeAll static void init() { TorchRuntime.init(); }

    static double maxAbsDiff(Tensor a, Tensor b) { return Ops.f(a.sub(b).abs().max()); }

    @Test void outputsHaveTheDocumentedShapes() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            EvalNet net = new EvalNet(EvalNet.Config.fmnist());
            EvalNet.Outputs o = net.forward(torch.randn(3, 1, 32, 32));
            assertArrayEquals(new long[]{3, 256}, Ops.shape(o.features()));
            assertArrayEquals(new long[]{3, 10}, Ops.shape(o.logits()));
            assertArrayEquals(new long[]{3, 384}, Ops.shape(o.projection()));
            assertArrayEquals(new long[]{}, Ops.shape(net.logitScale()));
            assertEquals(1 / 0.07, Ops.f(net.logitScale()), 1e-4, "CLIP's initial temperature");
        }
    }

    @Test void projectionRowsHaveUnitLength() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            Tensor norms = net.project(torch.randn(5, 1, 32, 32)).pow(Ops.s(2)).sum(1).sqrt();     // [5]
            assertTrue(maxAbsDiff(norms, torch.ones(5)) < 1e-5);
        }
    }

    @Test void anImagesFeaturesDoNotDependOnTheOtherImagesInItsBatch() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            // GroupNorm, not BatchNorm: FID must not change with the evaluation batch size
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            Tensor x = torch.randn(6, 1, 32, 32);
            Tensor alone = net.features(x.narrow(0, 2, 1));                                         // [1,F]
            Tensor inBatch = net.features(x).narrow(0, 2, 1);                                       // [1,F]
            assertTrue(maxAbsDiff(alone, inBatch) < 1e-5);
        }
    }

    @Test void evaluatingInBatchesGivesTheSameAsOnePass() {
        try (var scope = new PointerScope()) {
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            Tensor x = torch.randn(7, 1, 32, 32);
            EvalNet.Outputs batched = net.evaluate(x, 3);
            EvalNet.Outputs whole;
            try (var g = new NoGradGuard()) { whole = net.forward(x); }
            assertTrue(maxAbsDiff(batched.features(), whole.features()) < 1e-5);
            assertTrue(maxAbsDiff(batched.logits(), whole.logits()) < 1e-5);
            assertTrue(maxAbsDiff(batched.projection(), whole.projection()) < 1e-5);
            assertFalse(batched.features().requires_grad(), "evaluation records no graph");
        }
    }

    @Test void saveAndLoadGiveTheSameNetworkUpToFloat16Weights() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            Path file = dir.resolve("evalnet.safetensors");
            net.save(file, Map.of("evalnet.test_accuracy", "0.5"));
            EvalNet.Loaded loaded = EvalNet.load(file, new Device("cpu"));
            assertEquals(EvalNet.Config.tiny(), loaded.net().config());
            assertEquals("0.5", loaded.metadata().get("evalnet.test_accuracy"));
            assertFalse(loaded.net().isTraining());
            loaded.net().namedParameters().values().forEach(p -> assertFalse(p.requires_grad(), "loaded nets are frozen"));

            // the file holds float16: the loaded net equals the original with its weights rounded to float16
            Map<String, Tensor> rounded = new LinkedHashMap<>();
            net.namedParameters().forEach((k, v) -> rounded.put(k, v.to(torch.ScalarType.Half).to(torch.ScalarType.Float)));
            EvalNet reference = new EvalNet(EvalNet.Config.tiny());
            reference.load(rounded, "rounded");
            Tensor x = torch.randn(4, 1, 32, 32);
            assertTrue(maxAbsDiff(loaded.net().features(x), reference.features(x)) < 1e-6);
        }
    }

    @Test void aSafetensorsFileWithoutAnEvalNetConfigIsRejected() {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("other.safetensors");
            SafeTensors.write(file, Map.of("w", torch.zeros(2)), Map.of(), SafeTensors.Dtype.F32);
            var e = assertThrows(Add4jException.class, () -> EvalNet.load(file, new Device("cpu")));
            assertTrue(e.getMessage().contains("not an EvalNet file"), e.getMessage());
        }
    }

    @Test void imagesWithTheWrongChannelCountAreRejected() {
        try (var scope = new PointerScope()) {
            EvalNet net = new EvalNet(EvalNet.Config.tiny());
            var e = assertThrows(IllegalArgumentException.class, () -> net.features(torch.randn(2, 3, 32, 32)));
            assertEquals("x: expected [*,1,*,*], got [2,3,32,32]", e.getMessage());
        }
    }
}
