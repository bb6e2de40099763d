package dev.add4j;

import dev.add4j.nn.Layers;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * OpenBLAS on more than one thread ({@link TorchRuntime#setThreads}): sgemm's results against double precision, and
 * with libtorch's threads calling sgemm at once (the convolution without oneDNN runs one sgemm per image on its
 * intra-op threads), which the tests' one thread never does.
 */
class BlasThreadsTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    @AfterEach void back() { TorchRuntime.setThreads(1); TorchRuntime.setBlasThreads(1); }   // the tests' setting (ADD4J_TORCH_THREADS=1)

    private static double relErr(Tensor got, Tensor want) {
        return Ops.f(got.to(torch.ScalarType.Double).sub(want).abs().max()) / Ops.f(want.abs().max());
    }

    @Test void openBlasTakesLibtorchsThreadsOnlyWhereItsIdleThreadsSleepAtOnce() {
        assertEquals(2, TorchRuntime.blasThreadsFor(2, null, "4"));      // ./add4j's setting
        assertEquals(1, TorchRuntime.blasThreadsFor(2, null, null));     // OpenBLAS's own wait: they would spin
        assertEquals(1, TorchRuntime.blasThreadsFor(2, null, "28"));
        assertEquals(1, TorchRuntime.blasThreadsFor(2, "", "x"));
        assertEquals(3, TorchRuntime.blasThreadsFor(2, "3", null));       // ADD4J_BLAS_THREADS wins
        var e = assertThrows(Add4jException.class, () -> TorchRuntime.blasThreadsFor(2, "0", "4"));
        assertTrue(e.getMessage().startsWith("ADD4J_BLAS_THREADS"), e.getMessage());
    }

    @Test void smallSamplingBatchesRunOnOneThreadAndGiveTheCountsBack() {
        TorchRuntime.setThreads(2);
        int blas = TorchRuntime.blasThreads();   // OpenBLAS's count for 2 libtorch threads here (1 or 2, by the environment)
        try (var r = TorchRuntime.threadsForBatch(1, false)) {
            assertEquals(1, torch.get_num_threads());
            assertEquals(1, TorchRuntime.blasThreads());
        }
        assertEquals(2, torch.get_num_threads());
        assertEquals(blas, TorchRuntime.blasThreads());
        try (var r = TorchRuntime.threadsForBatch(TorchRuntime.SMALL_BATCH, false)) {
            assertEquals(1, torch.get_num_threads());
        }
        assertEquals(2, torch.get_num_threads());
    }

    @Test void largeBatchesAndAChosenCountKeepTheirThreads() {
        TorchRuntime.setThreads(2);
        try (var r = TorchRuntime.threadsForBatch(TorchRuntime.SMALL_BATCH + 1, false)) {
            assertEquals(2, torch.get_num_threads());
        }
        try (var r = TorchRuntime.threadsForBatch(1, true)) {   // --threads 2
            assertEquals(2, torch.get_num_threads());
        }
        assertEquals(2, torch.get_num_threads());
    }

    @Test void aLargeMatrixProductOnTwoBlasThreadsMatchesDoublePrecisionAndRepeatsBitForBit() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            Tensor a = torch.randn(512, 768), b = torch.randn(768, 640);      // big enough for OpenBLAS to split
            Tensor want = torch.mm(a.to(torch.ScalarType.Double), b.to(torch.ScalarType.Double));
            TorchRuntime.setThreads(1);
            Tensor one = torch.mm(a, b);
            TorchRuntime.setThreads(2);
            TorchRuntime.setBlasThreads(2);
            assertEquals(2, TorchRuntime.blasThreads());
            Tensor two = torch.mm(a, b);
            assertTrue(relErr(one, want) < 1e-5, "relative error " + relErr(one, want));
            assertTrue(relErr(two, want) < 1e-5, "relative error " + relErr(two, want));
            // not the same bits as one thread (the edges of each thread's block take other kernels), but repeatable
            assertTrue(torch.equal(two, torch.mm(a, b)), "two threads, twice: the same bits");
        }
    }

    @Test void convolutionsWithoutOneDnnOnTwoLibtorchAndTwoBlasThreadsMatchDoublePrecision() {
        boolean onednn = torch.globalContext().userEnabledMkldnn();
        torch.globalContext().setUserEnabledMkldnn(false);   // libtorch's own convolution: sgemm from its threads
        torch.globalContext().setUserEnabledNNPACK(false);   // not this CPU's: a warning per call
        try (var scope = new PointerScope()) {
            TorchRuntime.setThreads(2);
            TorchRuntime.setBlasThreads(2);
            torch.manual_seed(4);
            Tensor x = torch.randn(8, 32, 16, 16), w = torch.randn(64, 32, 3, 3).mul(Ops.s(0.1)), bias = torch.randn(64);
            Tensor xd = x.to(torch.ScalarType.Double), wd = w.to(torch.ScalarType.Double), bd = bias.to(torch.ScalarType.Double);
            Tensor r = torch.randn(8, 64, 16, 16), rd = r.to(torch.ScalarType.Double);
            Tensor xdg = xd.clone();
            xdg.requires_grad_(true);
            Tensor want = Layers.convolution(xdg, wd, bd, 1, 1);
            want.mul(rd).sum().backward();                  // the input gradient: sgemm again, from libtorch's threads
            Tensor wantGrad = xdg.grad();
            for (int i = 0; i < 10; i++) {                   // repeated: a race shows as an occasional wrong or NaN batch
                try (var inner = new PointerScope()) {
                    Tensor xg = x.clone();
                    xg.requires_grad_(true);
                    Tensor got = Layers.convolution(xg, w, bias, 1, 1);
                    got.mul(r).sum().backward();
                    double err = relErr(got, want), gradErr = relErr(xg.grad(), wantGrad);
                    assertTrue(err < 1e-5 && gradErr < 1e-5, "run " + i + ": relative error " + err + ", of the gradient " + gradErr);
                }
            }
        } finally {
            torch.globalContext().setUserEnabledMkldnn(onednn);
        }
    }

    @Test void aBadBlasThreadCountIsOneClearError() {
        assertThrows(Add4jException.class, () -> TorchRuntime.setThreads(0));
    }
}
