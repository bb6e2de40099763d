package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class VitTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static Tensor images(long b) { return torch.rand(b, 1, 32, 32).mul(Ops.s(2)).sub(Ops.s(1)); } // [B,1,32,32] in [-1,1]

    @Test void featuresAndClsHaveTheDocumentedShapes() {
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.tiny());                        // patch 8: 4x4 = 16 patch tokens, width 32
            List<Tensor> f = vit.features(images(3), List.of(0, 2, 4));
            assertEquals(3, f.size());
            for (Tensor t : f) assertArrayEquals(new long[]{3, 17, 32}, Ops.shape(t));
            assertArrayEquals(new long[]{3, 32}, Ops.shape(vit.cls(images(3))));
            assertArrayEquals(new long[]{3, 17, 32}, Ops.shape(vit.tokens(images(3))));
        }
    }

    @Test void fmnistConfigHas64PatchTokensAndAbout5MParameters() {
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.fmnist());
            assertEquals(8, Vit.Config.fmnist().gridSide());
            assertTrue(vit.parameterCount() > 3_000_000 && vit.parameterCount() < 6_000_000, "parameters: " + vit.parameterCount());
            try (var g = new NoGradGuard()) {
                assertArrayEquals(new long[]{2, 65, 192}, Ops.shape(vit.features(images(2), List.of(0)).get(0)));
            }
        }
    }

    @Test void defaultTapsArePatchEmbeddingPlusFourEvenlySpacedBlocksEndingAtTheLast() {
        try (var scope = new PointerScope()) {
            // depth 12: the paper's blocks 2, 5, 8, 11 (0-based hooks) are the outputs after 3, 6, 9, 12 blocks
            assertEquals(List.of(0, 3, 6, 9, 12), new Vit(Vit.Config.fmnist()).defaultTaps());
            assertEquals(List.of(0, 1, 2, 3, 4), new Vit(Vit.Config.tiny()).defaultTaps());
            assertEquals(List.of(0, 1, 2), new Vit(new Vit.Config(32, 1, 8, 16, 2, 2, 2)).defaultTaps());
        }
    }

    @Test void featuresComeBackInTheOrderTheTapsWereAsked() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny());
            Tensor x = images(2);
            List<Tensor> ascending = vit.features(x, List.of(0, 2, 4));
            List<Tensor> shuffled = vit.features(x, List.of(4, 0, 2));
            assertTrue(shuffled.get(0).equal(ascending.get(2)));
            assertTrue(shuffled.get(1).equal(ascending.get(0)));
            assertTrue(shuffled.get(2).equal(ascending.get(1)));
            assertFalse(ascending.get(0).equal(ascending.get(1)), "a block changes the tokens");
        }
    }

    @Test void clsIsTheLayerNormalisedFirstTokenOfTheLastTap() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny());                        // the final norm starts as gain 1, bias 0
            Tensor x = images(2);
            Tensor last = vit.features(x, List.of(4)).get(0).select(1, 0);                                 // [B,C]
            Tensor expected = torch.layer_norm(last, new long[]{32}, new TensorOptional(), new TensorOptional(), 1e-5, false);
            assertTrue(vit.cls(x).allclose(expected, 1e-5, 1e-5, false));
        }
    }

    @Test void tapsOutsideTheNetworkAreRejectedWithTheDepth() {
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.tiny());
            var e = assertThrows(IllegalArgumentException.class, () -> vit.features(images(1), List.of(0, 5)));
            assertEquals("taps: 5 outside 0..4 (depth 4)", e.getMessage());
            var s = assertThrows(IllegalArgumentException.class, () -> vit.cls(torch.zeros(1, 3, 32, 32)));
            assertEquals("x: expected [B,1,S,S] with S a multiple of 8, got [1,3,32,32]", s.getMessage());
        }
    }

    @Test void smallerInputsGetInterpolatedPositionsAndFewerTokens() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny());
            Tensor local = torch.rand(2, 1, 16, 16);
            assertArrayEquals(new long[]{2, 5, 32}, Ops.shape(vit.features(local, List.of(0)).get(0))); // 2x2 patches + CLS
            assertArrayEquals(new long[]{2, 32}, Ops.shape(vit.cls(local)));
        }
    }

    @Test void gradientReachesTheInputThroughAFrozenNetwork() {
        // the discriminator backpropagates its loss through the frozen ViT into the student's images
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.tiny());
            vit.requiresGrad(false);
            Tensor x = images(2).requires_grad_(true);
            Tensor loss = null;
            for (Tensor f : vit.features(x, vit.defaultTaps())) loss = loss == null ? f.square().mean() : loss.add(f.square().mean());
            loss.add(vit.cls(x).sum()).backward();
            assertTrue(x.grad().defined());
            assertTrue(Ops.f(x.grad().abs().sum()) > 0);
            for (Tensor p : vit.namedParameters().values()) assertFalse(p.grad().defined(), "a frozen parameter got a gradient");
        }
    }

    /** d/dW of |d(features)/dx|²: a gradient penalty on pixels through the ViT. */
    private static Tensor secondOrder(Vit vit) {
        Tensor x = images(2).requires_grad_(true);
        Tensor out = vit.features(x, List.of(2)).get(0).square().sum();
        Tensor gx = torch.grad(new TensorVector(out), new TensorVector(x), new TensorVector(), new BoolOptional(true), true, false).get(0);
        gx.square().sum().backward();
        return vit.namedParameters().get("blocks.0.attn.qkv.weight").grad();
    }

    @Test void secondOrderGradientsFlowThroughTheCpuAttention() {
        try (var scope = new PointerScope()) {
            // on the CPU attention is always written out (nn.Attention), which has a double backward
            Tensor gw = secondOrder(new Vit(Vit.Config.tiny()));
            assertTrue(gw.defined());
            assertTrue(Ops.f(gw.abs().sum()) > 0 && Double.isFinite(Ops.f(gw.sum())));
        }
    }

    @Test void mathAttentionComputesTheSameFeatures() {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny());
            Tensor x = images(3);
            Tensor fused = vit.cls(x);
            assertTrue(vit.mathAttention(true).cls(x).allclose(fused, 1e-5, 1e-5, false));
        }
    }

    @Test void saveThenLoadGivesTheSameNetworkFrozen(@TempDir Path dir) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny());
            // weights are stored as float16: round them first, so the round trip itself must be exact
            for (Tensor p : vit.namedParameters().values()) p.copy_(p.to(torch.ScalarType.Half).to(torch.ScalarType.Float));
            Path file = dir.resolve("vit.safetensors");
            vit.save(file, Map.of("objective", "dino"));

            Vit back = Vit.load(file);
            assertEquals(vit.config(), back.config());
            for (var e : vit.namedParameters().entrySet()) {
                Tensor q = back.namedParameters().get(e.getKey());
                assertTrue(q.equal(e.getValue()), e.getKey());
                assertFalse(q.requires_grad(), "a loaded network is frozen");
            }
            Tensor x = images(2);
            assertTrue(back.cls(x).allclose(vit.cls(x), 1e-6, 1e-6, false));
            assertEquals("dino", SafeTensors.read(file).metadata().get("objective"));
        }
    }

    @Test void loadRejectsASafetensorsFileThatIsNotAVit(@TempDir Path dir) {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("other.safetensors");
            SafeTensors.write(file, Map.of("w", torch.zeros(2)), Map.of(), SafeTensors.Dtype.F32);
            var e = assertThrows(Add4jException.class, () -> Vit.load(file));
            assertTrue(e.getMessage().contains("not a feature network"), e.getMessage());
        }
    }

    @Test void convStemGivesTheSameTokenGridAndSurvivesSaveAndLoad(@TempDir Path dir) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Vit vit = new Vit(Vit.Config.tiny().withStem(Vit.CONV_STEM));      // patch 8: three 3x3 stride-2 convolutions
            assertTrue(vit.namedParameters().containsKey("stem.2.weight"));
            Tensor x = images(2);
            assertArrayEquals(new long[]{2, 17, 32}, Ops.shape(vit.tokens(x)));
            Path f = dir.resolve("conv.safetensors");
            vit.save(f, Map.of());
            Vit back = Vit.load(f);
            assertEquals(Vit.CONV_STEM, back.config().stem());
            assertTrue(torch.allclose(back.tokens(x), vit.tokens(x), 1e-2, 1e-2, false), "float16 weights, same network");
        }
    }

    @Test void aFileWithoutAStemFieldLoadsAsThePatchStem(@TempDir Path dir) {
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.tiny());
            Path f = dir.resolve("old.safetensors");
            String old = dev.add4j.io.Json.write(Vit.Config.tiny()).replaceAll(",\\s*\"stem\"\\s*:\\s*\"patch\"", "");
            assertFalse(old.contains("stem"), old);
            SafeTensors.write(f, vit.namedParameters(), Map.of(Vit.FORMAT_KEY, Vit.FORMAT, Vit.CONFIG_KEY, old), SafeTensors.Dtype.F16);
            assertEquals(Vit.PATCH_STEM, Vit.load(f).config().stem());
        }
    }
}
