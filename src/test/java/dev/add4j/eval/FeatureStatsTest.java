package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class FeatureStatsTest {
    @TempDir Path dir;

    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void meanAndCovarianceAreTheSampleMeanAndTheNMinusOneCovariance() {
        try (var scope = new PointerScope()) {
            // rows (1,2), (3,6), (5,4): mean (3,4); deviations (-2,-2), (0,2), (2,0) -> cov [[4,2],[2,4]] with N-1 = 2
            FeatureStats s = FeatureStats.of(Ops.fromFloats(new float[]{1, 2, 3, 6, 5, 4}, 3, 2));
            assertArrayEquals(new float[]{3, 4}, Ops.toFloats(s.mean()), 1e-12f);
            assertArrayEquals(new float[]{4, 2, 2, 4}, Ops.toFloats(s.cov()), 1e-12f);
            assertEquals(3, s.n());
            assertEquals(torch.ScalarType.Double, s.cov().scalar_type().intern());
        }
    }

    @Test void statisticsSurviveASaveAndLoadAtFloat64Precision() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(5);
            Tensor x = torch.randn(100, 16).mul(Ops.s(3.7)).add(Ops.s(1.234567));
            FeatureStats s = FeatureStats.of(x);
            Path file = dir.resolve("real-stats.safetensors");
            s.save(file, Map.of("features", "test"));
            FeatureStats back = FeatureStats.load(file);
            assertEquals(100, back.n());
            // hi + lo float32 parts keep ~48 bits: far below float32's 1e-7 relative error
            assertTrue(Ops.f(back.cov().sub(s.cov()).abs().max()) < 1e-11);
            assertTrue(Ops.f(back.mean().sub(s.mean()).abs().max()) < 1e-11);
            assertEquals("test", FeatureStats.metadata(file).get("features"));
            assertEquals(0.0, Fid.distance(s, back), 1e-9);
        }
    }

    @Test void aFileWithoutStatisticsIsRejectedByName() {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("other.safetensors");
            SafeTensors.write(file, Map.of("w", torch.zeros(2)), Map.of(), SafeTensors.Dtype.F32);
            var e = assertThrows(Add4jException.class, () -> FeatureStats.load(file));
            assertTrue(e.getMessage().startsWith(file + ": not a feature-statistics file"), e.getMessage());
        }
    }

    @Test void constructorChecksThatCovarianceMatchesTheMean() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new FeatureStats(torch.zeros(3), torch.zeros(2, 2), 10));
            assertEquals("cov: expected [3,3], got [2,2]", e.getMessage());
        }
    }
}
