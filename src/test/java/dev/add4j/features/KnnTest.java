package dev.add4j.features;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class KnnTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void neighboursVoteForTheirClassWeightedBySimilarity() {
        try (var scope = new PointerScope()) {
            // class 0 along the first axis, class 1 along the second; queries near each axis
            Tensor train = DinoHead.unit(Ops.fromFloats(new float[]{1, 0, 1, 0.1f, 1, -0.1f, 0, 1, 0.1f, 1, -0.1f, 1}, 6, 2));
            Tensor trainLabels = Ops.fromLongs(new long[]{0, 0, 0, 1, 1, 1}, 6);
            Tensor test = DinoHead.unit(Ops.fromFloats(new float[]{1, 0.2f, 0.3f, 1}, 2, 2));
            assertEquals(1.0, Knn.accuracy(train, trainLabels, test, Ops.fromLongs(new long[]{0, 1}, 2), 20, 0.07, 2), 1e-12);
            assertEquals(0.0, Knn.accuracy(train, trainLabels, test, Ops.fromLongs(new long[]{1, 0}, 2), 20, 0.07, 2), 1e-12);
            // k = 1: only the nearest counts
            assertEquals(0.5, Knn.accuracy(train, trainLabels, test, Ops.fromLongs(new long[]{0, 0}, 2), 1, 0.07, 2), 1e-12);
        }
    }

    @Test void embeddingsAreUnitLengthClsFeatures() {
        try (var scope = new PointerScope()) {
            Vit vit = new Vit(Vit.Config.tiny());
            Tensor e = Knn.embed(vit, VitTest.images(5), 2);                                           // batches 2, 2, 1
            assertArrayEquals(new long[]{5, 32}, Ops.shape(e));
            assertTrue(e.square().sum(new long[]{1}).allclose(org.bytedeco.pytorch.global.torch.ones(5), 1e-5, 1e-5, false));
            assertFalse(e.requires_grad());
        }
    }
}
