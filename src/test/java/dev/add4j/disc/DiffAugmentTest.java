package dev.add4j.disc;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class DiffAugmentTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void translationMovesWholePixelsAndPadsWithZero() {
        try (var s = new PointerScope()) {
            Tensor x = torch.rand(6, 1, 32, 32).add(Ops.s(1));                                     // values in [1,2): no zeros
            Tensor y = DiffAugment.translation(x, torch.make_generator_cpu(3));
            for (int i = 0; i < 6; i++) {
                float[] in = Ops.toFloats(x.select(0, i)), out = Ops.toFloats(y.select(0, i));
                boolean found = false;
                for (int dy = -4; dy <= 4 && !found; dy++)
                    for (int dx = -4; dx <= 4 && !found; dx++) found = shiftedBy(in, out, dx, dy);
                assertTrue(found, "image " + i + " is a whole-pixel shift of its input");
            }
        }
    }

    private static boolean shiftedBy(float[] in, float[] out, int dx, int dy) {
        for (int r = 0; r < 32; r++)
            for (int c = 0; c < 32; c++) {
                int sr = r - dy, sc = c - dx;
                float want = sr < 0 || sr >= 32 || sc < 0 || sc >= 32 ? 0f : in[sr * 32 + sc];
                if (Math.abs(out[r * 32 + c] - want) > 1e-6) return false;
            }
        return true;
    }

    @Test void cutoutZeroesOneSquareOfAtMostHalfTheSide() {
        try (var s = new PointerScope()) {
            Tensor x = torch.ones(5, 1, 32, 32);
            Tensor y = DiffAugment.cutout(x, torch.make_generator_cpu(4));
            for (int i = 0; i < 5; i++) {
                double zeros = 1024 - Ops.f(y.select(0, i).sum());
                assertTrue(zeros > 0 && zeros <= 16 * 16, "image " + i + ": " + zeros + " zeroed pixels");
            }
        }
    }

    @Test void augmentationIsSeededAndDifferentiable() {
        try (var s = new PointerScope()) {
            Tensor x = torch.randn(4, 1, 32, 32);
            x.requires_grad_(true);
            Tensor a = DiffAugment.apply(x, torch.make_generator_cpu(7)), b = DiffAugment.apply(x, torch.make_generator_cpu(7));
            assertTrue(torch.equal(a, b), "same seed, same augmentation");
            assertFalse(torch.equal(a, DiffAugment.apply(x, torch.make_generator_cpu(8))), "another seed, another one");
            Tensor g = torch.grad(new TensorVector(a.sum()), new TensorVector(x), new TensorVector(), new BoolOptional(false), false, false).get(0);
            assertTrue(Ops.f(g.abs().sum()) > 0, "gradients reach the input");
        }
    }

    @Test void aPolicyRunsItsAugmentationsInTheirOrderAndNoneIsTheIdentity() {
        try (var s = new PointerScope()) {
            Tensor x = torch.randn(4, 1, 32, 32);
            var policy = DiffAugment.Policy.parse("cutout, colour");
            assertEquals(new DiffAugment.Policy(true, false, true), policy);
            Tensor viaPolicy = DiffAugment.apply(x, policy, torch.make_generator_cpu(3));
            assertFalse(torch.equal(viaPolicy, x));
            var gen = torch.make_generator_cpu(3);
            assertTrue(torch.equal(viaPolicy, DiffAugment.cutout(DiffAugment.colour(x, gen), gen)), "colour, then cutout");
            assertTrue(torch.equal(DiffAugment.apply(x, DiffAugment.Policy.ALL, torch.make_generator_cpu(5)),
                    DiffAugment.apply(x, torch.make_generator_cpu(5))), "ALL is the paper's augmentation, draw for draw");
            assertSame(x, DiffAugment.apply(x, DiffAugment.Policy.NONE, torch.make_generator_cpu(5)));
        }
    }

    @Test void policiesParseAndPrint() {   // an old config.json's boolean: AddConfig.upgrade (AddTrainerTest)
        assertEquals("colour,translation,cutout", DiffAugment.Policy.ALL.toString());
        assertEquals(DiffAugment.Policy.ALL, DiffAugment.Policy.parse("Translation,color,cutout"));
        assertEquals(DiffAugment.Policy.NONE, DiffAugment.Policy.parse("none"));
        assertEquals("translation", DiffAugment.Policy.parse("translation").toString());
        assertEquals(DiffAugment.Policy.ALL, DiffAugment.Policy.fromJson(DiffAugment.Policy.ALL.toString()));
        for (String bad : new String[]{"", "colour,,cutout", "flip", "none,colour"}) {
            var e = assertThrows(dev.add4j.Add4jException.class, () -> DiffAugment.Policy.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("--diffaugment"), e.getMessage());
        }
    }
}
