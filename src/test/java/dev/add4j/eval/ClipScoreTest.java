package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ClipScoreTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void scoreIsOneHundredTimesTheClampedCosineAveraged() {
        try (var scope = new PointerScope()) {
            // pairs: identical (cos 1), orthogonal (0), opposite (-1, clamped to 0), 45 degrees (1/sqrt 2); lengths vary
            var image = Ops.fromFloats(new float[]{2, 0, 1, 0, 1, 0, 3, 3}, 4, 2);
            var text = Ops.fromFloats(new float[]{1, 0, 0, 5, -1, 0, 1, 0}, 4, 2);
            assertArrayEquals(new float[]{100, 0, 0, (float) (100 / Math.sqrt(2))},
                    Ops.toFloats(ClipScore.perPair(image, text)), 1e-4f);
            assertEquals((100 + 100 / Math.sqrt(2)) / 4, ClipScore.score(image, text), 1e-9);
        }
    }

    @Test void mismatchedInputsAreRejectedWithAClearMessage() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> ClipScore.score(torch.randn(4, 384), torch.randn(3, 384)));
            assertEquals("imageProj has 4 rows but textPooled has 3; one prompt embedding per image is needed", e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> ClipScore.score(torch.randn(4, 384), torch.randn(4, 256)));
            assertEquals("feature dimensions differ: imageProj has 384, textPooled has 256", e2.getMessage());
        }
    }
}
