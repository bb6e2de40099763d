package dev.add4j.dist;

import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ReplicasTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void everyRankEndsWithRankZerosWeights() throws Exception {
        List<double[]> sums = Ranks.run(2, g -> {
            UNet net;
            synchronized (TorchRuntime.GLOBAL_GENERATOR) {
                torch.manual_seed(100 + g.rank());                     // different weights on each rank
                net = new UNet(UNet.Config.tiny());
            }
            try (var scope = new PointerScope()) {
                double before = checksum(net);
                Replicas.fromRankZero(g, Map.of("net", net));
                return new double[]{before, checksum(net)};
            }
        });
        assertNotEquals(sums.get(0)[0], sums.get(1)[0], "the ranks began apart");
        assertEquals(sums.get(0)[0], sums.get(0)[1], "rank 0 keeps its own");
        assertEquals(sums.get(0)[0], sums.get(1)[1], "rank 1 has rank 0's");
    }

    static double checksum(UNet net) {
        double s = 0;
        for (var p : net.namedParameters().values()) s += Ops.f(p.abs().sum().to(torch.ScalarType.Double));
        return s;
    }
}
