package dev.add4j;

import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/** Process-wide libtorch settings, made once at start-up, and the choice of device. */
public final class TorchRuntime {
    private static volatile boolean initialised;

    /**
     * Held by code that seeds libtorch's global generator and then draws initial weights from it, so that a draw
     * from another thread cannot come in between (several trainers in one process: {@code add4j ablate --parallel}).
     */
    public static final Object GLOBAL_GENERATOR = new Object();

    private TorchRuntime() {}

    /**
     * Loads libtorch and makes CPU maths safe. libtorch calls OpenBLAS from its own intra-op threads, so OpenBLAS
     * must start single-threaded ({@code OPENBLAS_NUM_THREADS=1}, which {@code ./add4j}, the tests and CI set).
     * Measured here: without it, concurrent sgemm calls raced and gave NaN gradients within a few dozen steps
     * (openblas_set_num_threads(1) after start-up did not prevent it), and the two thread pools made small
     * steps several times slower. When the variable is missing, libtorch runs on one thread instead.
     * <p>OpenBLAS also picks its kernels from the CPU, and on CPUs where it picks "Cooperlake" (newer Intel) its
     * sgemm turned a tiny UNet's training to NaN within 150 steps (reproduced here with
     * {@code OPENBLAS_CORETYPE=Cooperlake}; Haswell and SkylakeX kernels train fine). So {@code ./add4j}, the tests
     * and CI set {@code OPENBLAS_CORETYPE=Haswell}; without it a warning is printed.
     * <p>{@code ADD4J_ONEDNN=0} turns libtorch's oneDNN (mkldnn) CPU kernels off; convolutions then take libtorch's
     * own path, bit-reproducible but 5.5 times slower in an ADD iteration. The tests and CI set it; the commands
     * leave oneDNN on. (oneDNN's convolution backward is wrong for output widths that are not a multiple of 16:
     * {@link dev.add4j.nn.Layers#convolution} works around it.)
     */
    public static synchronized void init() {
        if (initialised) return;
        torch.manual_seed(0); // loads libtorch
        if (!"1".equals(System.getenv("OPENBLAS_NUM_THREADS"))) {
            torch.set_num_threads(1);
            System.err.println("add4j: OPENBLAS_NUM_THREADS is not 1, so libtorch runs on one CPU thread "
                    + "(start with OPENBLAS_NUM_THREADS=1 to use every core)");
        }
        if (System.getenv("OPENBLAS_CORETYPE") == null)
            System.err.println("add4j: OPENBLAS_CORETYPE is not set; set OPENBLAS_CORETYPE=Haswell (as ./add4j does): "
                    + "OpenBLAS's Cooperlake kernels, chosen on some Intel CPUs, give NaN in training");
        String threads = System.getenv("ADD4J_TORCH_THREADS"); // the tests set 1: bit-reproducible, no thread races
        if (threads != null && !threads.isBlank()) setThreads(Integer.parseInt(threads.trim()));
        else if ("1".equals(System.getenv("OPENBLAS_NUM_THREADS")))
            setThreads(Runtime.getRuntime().availableProcessors()); // libtorch's own default here was 1 of 2
        if ("0".equals(System.getenv("ADD4J_ONEDNN"))) torch.globalContext().setUserEnabledMkldnn(false);
        initialised = true;
    }

    /**
     * Sets libtorch's intra-op threads, and OpenBLAS's to {@code ADD4J_BLAS_THREADS} (default 1). OpenBLAS on libtorch's
     * count doubles a large sgemm (torch.mm 2048² on 2 cores: 205 against 100 GFLOP/s), but its threads then contend
     * with libtorch's for the same cores on every small product: 1-step sampling at batch 1 took 538 ms instead of
     * 14.5 (README, "Benchmark"). Its results match double precision on any count and repeat bit for bit at a given
     * one, though not across counts ({@code BlasThreadsTest}). Where OPENBLAS_NUM_THREADS is not 1 at start-up,
     * OpenBLAS is left as that variable set it.
     */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new Add4jException("--threads must be >= 1, got " + n);
        torch.set_num_threads(n);
        setBlasThreads(blasThreadsFromEnv());
    }

    /** OpenBLAS's threads, where OPENBLAS_NUM_THREADS left it to add4j. */
    static synchronized void setBlasThreads(int n) {
        if ("1".equals(System.getenv("OPENBLAS_NUM_THREADS"))) openblas_nolapack.blas_set_num_threads(n);
    }

    /** OpenBLAS's threads: 1, unless ADD4J_BLAS_THREADS says. */
    private static int blasThreadsFromEnv() {
        String v = System.getenv("ADD4J_BLAS_THREADS");
        if (v == null || v.isBlank()) return 1;
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) return n;
        } catch (NumberFormatException e) { /* falls through to the error */ }
        throw new Add4jException("ADD4J_BLAS_THREADS: expected a thread count >= 1, got '" + v + "'");
    }

    /** OpenBLAS's thread count now (for reports). */
    public static int blasThreads() {
        init();
        return openblas_nolapack.blas_get_num_threads();
    }

    /** True when libtorch sees a CUDA device. */
    public static boolean cudaAvailable() {
        init();
        return torch.cuda_is_available();
    }

    /** The default device name: "cuda" when libtorch sees one, else "cpu". */
    public static String defaultDeviceName() {
        return cudaAvailable() ? "cuda" : "cpu";
    }

    /** Parses a device option ("cpu", "cuda", "cuda:1"); null or "auto" picks the default. */
    public static Device device(String name) {
        init();
        String n = (name == null || name.isBlank() || name.equals("auto")) ? defaultDeviceName() : name.trim();
        if (!n.equals("cpu") && !n.startsWith("cuda"))
            throw new Add4jException("--device: expected cpu or cuda, got '" + name + "'");
        if (n.startsWith("cuda") && !torch.cuda_is_available())
            throw new Add4jException("--device " + n + ": libtorch sees no CUDA device here; use --device cpu");
        return new Device(n);
    }
}
