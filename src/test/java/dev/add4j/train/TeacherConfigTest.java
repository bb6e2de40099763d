package dev.add4j.train;

import dev.add4j.io.Json;
import dev.add4j.nn.UNet;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TeacherConfigTest {
    static TeacherConfig cfg(long steps, long warmup) {
        return new TeacherConfig(steps, 8, 2e-4, warmup, 0.999, 0.1, 1.0, 0, UNet.Config.tiny(), 32);
    }

    @Test void lrWarmsUpLinearlyToThePeakOverTheWarmupSteps() {
        TeacherConfig c = cfg(1000, 100);
        assertEquals(2e-4 / 100, c.lrAt(0), 1e-15);
        assertEquals(2e-4 * 50 / 100, c.lrAt(49), 1e-15);
        assertEquals(2e-4, c.lrAt(99), 1e-15);
        for (long s = 1; s < 100; s++) assertTrue(c.lrAt(s) > c.lrAt(s - 1), "increasing at " + s);
    }

    @Test void lrFollowsACosineFromThePeakToATenthAtTheLastStep() {
        TeacherConfig c = cfg(1000, 100);
        assertEquals(2e-4, c.lrAt(100), 1e-15);                       // cosine starts at the peak
        assertEquals(2e-4 * 0.55, c.lrAt(550), 1e-15);                // half way: (0.1 + 1) / 2
        assertEquals(2e-5, c.lrAt(1000), 1e-15);                      // ends at lr / 10
        assertEquals(2e-5, c.lrAt(5000), 1e-15);                      // and stays there past the end
        for (long s = 101; s <= 1000; s++) assertTrue(c.lrAt(s) < c.lrAt(s - 1), "decreasing at " + s);
    }

    @Test void withoutWarmupTheFirstStepUsesThePeakLr() {
        assertEquals(2e-4, cfg(10, 0).lrAt(0), 1e-15);
    }

    @Test void configJsonRoundTripIsEqual() {
        TeacherConfig c = cfg(1234, 56);
        assertEquals(c, Json.read(Json.write(c), TeacherConfig.class));
    }

    @Test void configRejectsNonPositiveStepsBatchAndLrNamingTheOption() {
        UNet.Config u = UNet.Config.tiny();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new TeacherConfig(0, 8, 1e-4, 0, 0.9, 0.1, 1, 0, u, 32))
                .getMessage().startsWith("--steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new TeacherConfig(1, 0, 1e-4, 0, 0.9, 0.1, 1, 0, u, 32))
                .getMessage().startsWith("--batch"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new TeacherConfig(1, 8, 0, 0, 0.9, 0.1, 1, 0, u, 32))
                .getMessage().startsWith("--lr"));
    }
}
