package dev.add4j.dist;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import dev.add4j.train.Optimizers;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class GroupTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void withoutTorchrunsVariablesAProcessIsAJobOfOneThatRunsNoCollective() {
        assertSame(WorldEnv.SINGLE, WorldEnv.of(Map.of()));
        assertSame(WorldEnv.SINGLE, WorldEnv.of(Map.of("WORLD_SIZE", "1", "RANK", "0")));
        Group g = Group.join(WorldEnv.SINGLE, Duration.ofSeconds(1), false);
        assertSame(Group.SINGLE, g);
        assertSame(g, Group.current());
        Map<String, Double> stats = Map.of("loss", 1.5);
        assertSame(stats, g.average(stats), "the statistics as they are");
        assertArrayEquals(new double[]{2, 3}, g.allReduceSum(new double[]{2, 3}));
        assertFalse(g.any(false));
        assertTrue(g.isMain());
        try (var scope = new PointerScope()) {
            Tensor p = torch.ones(3).requires_grad_(true);
            p.mul(Ops.s(2)).sum().backward();
            assertTrue(Gradients.average(g, new TensorVector(p), true));
            assertFalse(Gradients.average(g, new TensorVector(p), false), "a non-finite loss is this rank's alone to skip");
            assertEquals(6.0, Ops.f(p.grad().sum()), "the gradient untouched");
        }
        assertSame(Shard.WHOLE, Shard.current());
        try (var shard = Shard.enter(g)) {
            assertSame(Shard.WHOLE, Shard.current(), "a job of one splits nothing");
        }
    }

    @Test void aJobOfSeveralNeedsEveryVariableAndSaysWhichIsWrong() {
        assertEquals("RANK is not set (WORLD_SIZE is 2)",
                assertThrows(Add4jException.class, () -> WorldEnv.of(Map.of("WORLD_SIZE", "2", "MASTER_ADDR", "h"))).getMessage());
        assertEquals("RANK must be in [0, 2), got 2",
                assertThrows(Add4jException.class, () -> WorldEnv.of(Map.of("WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "h"))).getMessage());
        assertEquals("MASTER_PORT: expected an integer, got 'x'",
                assertThrows(Add4jException.class, () -> WorldEnv.of(Map.of("WORLD_SIZE", "2", "RANK", "1", "MASTER_ADDR", "h", "MASTER_PORT", "x"))).getMessage());
        assertTrue(assertThrows(Add4jException.class, () -> WorldEnv.of(Map.of("WORLD_SIZE", "2", "RANK", "1"))).getMessage().startsWith("MASTER_ADDR is not set"));
        WorldEnv e = WorldEnv.of(Map.of("WORLD_SIZE", "4", "RANK", "3", "LOCAL_RANK", "1", "MASTER_ADDR", "node0", "MASTER_PORT", "1234"));
        assertEquals(new WorldEnv(3, 4, 1, "node0", 1234), e);
    }

    @Test void aRankThatNeverArrivesIsNamedWhenTheJoinTimesOut() {
        long t0 = System.nanoTime();
        var e = assertThrows(Add4jException.class, () -> Group.join(new WorldEnv(0, 3, 0, "127.0.0.1", Ranks.freePort()),
                Duration.ofSeconds(2), Duration.ofSeconds(2), false));
        assertTrue(e.getMessage().contains("ranks 1, 2 of 3 did not join at 127.0.0.1:"), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "it gives up after the timeout");
        assertSame(Group.SINGLE, Group.current());
    }

    @Test void twoRanksSumAverageAndAgree() throws Exception {
        List<Map<String, Double>> got = Ranks.run(2, g -> {
            assertEquals(2, g.size());
            assertEquals("gloo", g.backendName());
            double[] sum = g.allReduceSum(new double[]{g.rank() + 1, 10});
            assertArrayEquals(new double[]{3, 20}, sum);
            assertTrue(g.any(g.rank() == 1), "one rank's true is every rank's");
            assertFalse(g.any(false));
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("loss", g.rank() == 0 ? 1.0 : 3.0);
            if (g.rank() == 0) stats.put("only_rank0", 5.0);      // left out on rank 1, as a non-finite loss is
            stats.put("acc", 0.5);
            return g.average(stats);
        });
        for (Map<String, Double> m : got) {
            assertEquals(2.0, m.get("loss"));
            assertEquals(5.0, m.get("only_rank0"), "the mean over the ranks that have it");
            assertEquals(0.5, m.get("acc"));
        }
        assertEquals(got.get(0), got.get(1), "every rank sees the same statistics");
    }

    @Test void gradientsAreAveragedAndANonFiniteLossOnOneRankSkipsTheStepOnEvery() throws Exception {
        List<double[]> got = Ranks.run(2, g -> {
            try (var scope = new PointerScope(); var shard = Shard.enter(g)) {
                Tensor w = torch.zeros(2).requires_grad_(true);
                SGD opt = new SGD(new TensorVector(w), new SGDOptions(1.0));
                // rank r's loss: (r+1)·(w0 + 2·w1), so its gradient is (r+1)·[1, 2] and the mean 1.5·[1, 2]
                Tensor loss = w.mul(Ops.fromFloats(new float[]{1, 2}, 2)).sum().mul(Ops.s(g.rank() + 1));
                boolean first = Optimizers.stepIfFinite(opt, loss, new TensorVector(w));
                float[] after = Ops.toFloats(w);
                // then rank 1's loss is NaN: both ranks skip
                Tensor bad = w.sum().mul(Ops.s(g.rank() == 1 ? Double.NaN : 1));
                boolean second = Optimizers.stepIfFinite(opt, bad, new TensorVector(w));
                float[] end = Ops.toFloats(w);
                return new double[]{first ? 1 : 0, after[0], after[1], second ? 1 : 0, end[0], end[1]};
            }
        });
        for (double[] r : got) assertArrayEquals(new double[]{1, -1.5, -3, 0, -1.5, -3}, r, 1e-6);
    }

    @Test void theRanksDrawsTogetherAreTheWholeBatchsDraw() throws Exception {
        float[] whole;
        try (var scope = new PointerScope()) {
            var gen = torch.make_generator_cpu(7);
            Tensor n = Shard.WHOLE.randn(gen, 8, 3), u = Shard.WHOLE.rand(gen, 8), k = Shard.WHOLE.randint(0, 100, new long[]{8}, gen);
            whole = Ops.toFloats(torch.cat(new TensorVector(n.reshape(-1), u, k.to(torch.ScalarType.Float))));
        }
        List<float[]> parts = Ranks.run(2, g -> {
            try (var scope = new PointerScope(); var shard = Shard.enter(g)) {
                Shard s = Shard.current();
                var gen = torch.make_generator_cpu(7);
                Tensor n = s.randn(gen, 4, 3), u = s.rand(gen, 4), k = s.randint(0, 100, new long[]{4}, gen);
                return new float[][]{Ops.toFloats(n), Ops.toFloats(u), Ops.toFloats(k)};
            }
        }).stream().map(a -> (float[][]) a).map(a -> concat(a[0], a[1], a[2])).toList();
        // rank r holds rows [4r, 4r+4) of each draw
        for (int r = 0; r < 2; r++) {
            float[] p = parts.get(r);
            for (int i = 0; i < 12; i++) assertEquals(whole[12 * r + i], p[i], "randn, rank " + r);
            for (int i = 0; i < 4; i++) assertEquals(whole[24 + 4 * r + i], p[12 + i], "rand, rank " + r);
            for (int i = 0; i < 4; i++) assertEquals(whole[32 + 4 * r + i], p[16 + i], "randint, rank " + r);
        }
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) { System.arraycopy(p, 0, out, at, p.length); at += p.length; }
        return out;
    }
}
