package dev.add4j.train;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Layers;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class EmaTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static void fill(Layers.Linear m, double v) {
        try (var g = new NoGradGuard()) {
            for (Tensor p : m.namedParameters().values()) p.fill_(Ops.s(v));
        }
    }

    static void assertAll(Layers.Linear m, double want, String what) {
        for (var e : m.namedParameters().entrySet())
            for (float x : Ops.toFloats(e.getValue())) assertEquals(want, x, 1e-6, what + ": " + e.getKey());
    }

    @Test void emaStartsAsACopyOfTheLiveWeightsAndIsFrozen() {
        try (var scope = new PointerScope()) {
            var live = new Layers.Linear(3, 2); var avg = new Layers.Linear(3, 2);
            fill(live, 0.5);
            new Ema(live, avg, 0.99);
            assertAll(avg, 0.5, "copied");
            avg.namedParameters().values().forEach(p -> assertFalse(p.requires_grad()));
            live.namedParameters().values().forEach(p -> assertTrue(p.requires_grad(), "the live network still trains"));
        }
    }

    @Test void emaUpdateMovesTheAverageTowardTheLiveWeightsByOneMinusTheDecay() {
        // ema = d * ema + (1 - d) * live with d = min(decay, (1 + step) / (10 + step))
        try (var scope = new PointerScope()) {
            var live = new Layers.Linear(3, 2); var avg = new Layers.Linear(3, 2);
            fill(live, 1.0);
            Ema ema = new Ema(live, avg, 0.9);
            fill(live, 3.0);
            ema.update(1000);                                          // warm-up over: d = 0.9
            assertAll(avg, 0.9 * 1.0 + 0.1 * 3.0, "after one update");
            ema.update(1000);
            assertAll(avg, 0.9 * 1.2 + 0.1 * 3.0, "after two updates");
        }
    }

    @Test void emaWarmUpUsesDecayOnePlusNOverTenPlusNEarlyInTraining() {
        try (var scope = new PointerScope()) {
            var live = new Layers.Linear(3, 2); var avg = new Layers.Linear(3, 2);
            fill(live, 0.0);
            Ema ema = new Ema(live, avg, 0.9999);
            fill(live, 1.0);
            ema.update(0);                                             // d = 1/10: mostly the live weights
            assertAll(avg, 0.9, "step 0");
            ema.update(10);                                            // d = 11/20
            assertAll(avg, 0.55 * 0.9 + 0.45, "step 10");
        }
    }

    @Test void emaRejectsADecayOutsideZeroToOne() {
        try (var scope = new PointerScope()) {
            var a = new Layers.Linear(2, 2); var b = new Layers.Linear(2, 2);
            assertThrows(IllegalArgumentException.class, () -> new Ema(a, b, 1.0));
            assertThrows(IllegalArgumentException.class, () -> new Ema(a, b, -0.1));
        }
    }
}
