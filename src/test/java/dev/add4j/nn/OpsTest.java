package dev.add4j.nn;

import dev.add4j.TorchRuntime;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class OpsTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void floatsRoundTripThroughATensor() {
        try (var scope = new PointerScope()) {
            Tensor t = Ops.fromFloats(new float[]{1, 2, 3, 4, 5, 6}, 2, 3);
            assertArrayEquals(new long[]{2, 3}, Ops.shape(t));
            assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, Ops.toFloats(t));
            assertEquals(21.0, Ops.f(t.sum()), 1e-6);
        }
    }

    @Test void expectShapeNamesTheTensorAndBothShapes() {
        try (var scope = new PointerScope()) {
            Tensor t = Ops.fromFloats(new float[8], 2, 4);
            Ops.expectShape(t, "x", -1, 4);
            var e = assertThrows(IllegalArgumentException.class, () -> Ops.expectShape(t, "x", -1, 3));
            assertEquals("x: expected [*,3], got [2,4]", e.getMessage());
        }
    }
}
