package dev.add4j.features;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class AugmentTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void viewsKeepTheBatchAndStayInMinusOneToOne() {
        try (var scope = new PointerScope()) {
            Tensor x = VitTest.images(6);
            Augment aug = new Augment(Augment.Config.dino(), 1);
            Tensor g = aug.globalView(x), l = aug.localView(x);
            assertArrayEquals(new long[]{6, 1, 32, 32}, Ops.shape(g));
            assertArrayEquals(new long[]{6, 1, 16, 16}, Ops.shape(l));
            for (Tensor v : new Tensor[]{g, l}) {
                assertTrue(Ops.f(v.min()) >= -1 && Ops.f(v.max()) <= 1, "range");
                assertFalse(v.isnan().any().item_bool());
            }
        }
    }

    @Test void sameSeedGivesTheSameViewsAndEachCallANewOne() {
        try (var scope = new PointerScope()) {
            Tensor x = VitTest.images(4);
            Augment a = new Augment(Augment.Config.dino(), 7), b = new Augment(Augment.Config.dino(), 7);
            Tensor first = a.globalView(x);
            assertTrue(first.equal(b.globalView(x)));
            assertFalse(first.equal(a.globalView(x)), "a second call draws new crops");
            assertFalse(first.equal(x), "a view differs from its image");
        }
    }

    @Test void fullCropIsTheIdentityAndItsFlipMirrorsEachRow() {
        try (var scope = new PointerScope()) {
            Tensor x = VitTest.images(2);
            Tensor one = torch.ones(2), zero = torch.zeros(2);
            // align_corners = false puts output pixel centres exactly on input pixel centres
            assertTrue(Augment.crop(x, one, one, zero, zero, one, 32).allclose(x, 1e-5, 1e-5, false));
            assertTrue(Augment.crop(x, one, one, zero, zero, one.neg(), 32).allclose(x.flip(new long[]{3}), 1e-5, 1e-5, false));
        }
    }

    @Test void halfSizedCentredCropAtHalfResolutionIsTheCentralPixels() {
        try (var scope = new PointerScope()) {
            Tensor x = VitTest.images(2);
            Tensor half = torch.full(new long[]{2}, Ops.s(0.5)), zero = torch.zeros(2), one = torch.ones(2);
            Tensor centre = x.narrow(2, 8, 16).narrow(3, 8, 16);                                          // [2,1,16,16]
            assertTrue(Augment.crop(x, half, half, zero, zero, one, 16).allclose(centre, 1e-5, 1e-5, false));
        }
    }

    @Test void gradientFlowsThroughAView() {
        try (var scope = new PointerScope()) {
            Tensor x = VitTest.images(2).requires_grad_(true);
            new Augment(Augment.Config.dino(), 1).globalView(x).sum().backward();
            assertTrue(x.grad().defined());
        }
    }
}
