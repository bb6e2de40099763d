package dev.add4j.serve;

import dev.add4j.TorchRuntime;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ServeThreadsTest {
    @Test void smallBatchesLeaveOneCoreFreeAndLargeOnesTakeEveryCore() {
        var twoCores = ServeThreads.leavingOneCoreFreeForSmallBatches(2);
        assertEquals(1, twoCores.applyAsInt(1));
        assertEquals(1, twoCores.applyAsInt(TorchRuntime.SMALL_BATCH));
        assertEquals(2, twoCores.applyAsInt(TorchRuntime.SMALL_BATCH + 1));
        assertEquals(1, ServeThreads.leavingOneCoreFreeForSmallBatches(1).applyAsInt(1));   // never 0 threads
        assertEquals(15, ServeThreads.leavingOneCoreFreeForSmallBatches(16).applyAsInt(1));
    }
}
