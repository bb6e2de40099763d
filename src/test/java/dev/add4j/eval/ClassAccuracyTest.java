package dev.add4j.eval;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ClassAccuracyTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void overallAndPerClassAccuracyCountTheArgmax() {
        try (var scope = new PointerScope()) {
            // 3 classes; predictions (argmax) 0, 1, 1, 2, 0 against labels 0, 1, 0, 2, 0
            var logits = Ops.fromFloats(new float[]{
                    5, 1, 0,
                    0, 2, 1,
                    0, 3, 1,
                    0, 0, 9,
                    2, 1, 1}, 5, 3);
            var labels = Ops.fromLongs(new long[]{0, 1, 0, 2, 0}, 5);
            ClassAccuracy.Result r = ClassAccuracy.of(logits, labels);
            assertEquals(0.8, r.overall(), 1e-12);
            assertEquals(List.of(2 / 3.0, 1.0, 1.0), r.perClass());
            assertEquals(List.of(3L, 1L, 1L), r.counts());
            assertEquals(2 / 3.0, r.worstClass(), 1e-12);
        }
    }

    @Test void aClassWithoutImagesHasNaNAccuracy() {
        try (var scope = new PointerScope()) {
            ClassAccuracy.Result r = ClassAccuracy.ofPredictions(Ops.fromLongs(new long[]{0, 0}, 2), Ops.fromLongs(new long[]{0, 1}, 2), 3);
            assertEquals(0.5, r.overall());
            assertTrue(r.perClass().get(2).isNaN());
            assertEquals(0.0, r.worstClass());
        }
    }

    @Test void badLabelsAreRejected() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> ClassAccuracy.ofPredictions(Ops.fromLongs(new long[]{0, 1}, 2), Ops.fromLongs(new long[]{0, 3}, 2), 3));
            assertEquals("labels: expected values in 0..2, got 0..3", e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class,
                    () -> ClassAccuracy.ofPredictions(Ops.fromLongs(new long[]{0, 1}, 2), Ops.fromLongs(new long[]{0, 1, 1}, 3), 3));
            assertEquals("labels: expected [2], got [3]", e2.getMessage());
        }
    }
}
