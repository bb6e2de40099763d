package dev.add4j;

import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/** Process-wide libtorch settings, made once at start-up, and the choice of device. */
public final class TorchRuntime {
    private static volatile boolean initialised;
    private static volatile boolean threadsGiven;   // --threads or ADD4J_TORCH_THREADS: threadsForBatch keeps them

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
        if (threads != null && !threads.isBlank()) setGivenThreads(Integer.parseInt(threads.trim()));
        else if ("1".equals(System.getenv("OPENBLAS_NUM_THREADS")))
            setThreads(Runtime.getRuntime().availableProcessors()); // libtorch's own default here was 1 of 2
        if ("0".equals(System.getenv("ADD4J_ONEDNN"))) torch.globalContext().setUserEnabledMkldnn(false);
        initialised = true;
    }

    /**
     * Sets libtorch's intra-op threads, and OpenBLAS's (see {@link #blasThreadsFor}). OpenBLAS on libtorch's count
     * doubles a large sgemm (torch.mm 2048² on 2 cores: about 200 against 100 GFLOP/s), but its idle threads busy-wait
     * for 2^28 cycles after every call unless OPENBLAS_THREAD_TIMEOUT is short, and then contend with libtorch's
     * threads on every small product: 1-step sampling at batch 1 took 483-538 ms instead of 14-16 (README,
     * "Notes for developers"). Its results match double precision on any count and repeat bit for bit at a given
     * one, though not across counts ({@code BlasThreadsTest}). Where OPENBLAS_NUM_THREADS is not 1 at start-up,
     * OpenBLAS is left as that variable set it.
     */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new Add4jException("--threads must be >= 1, got " + n);
        torch.set_num_threads(n);
        setBlasThreads(blasThreadsFor(n, System.getenv("ADD4J_BLAS_THREADS"), System.getenv("OPENBLAS_THREAD_TIMEOUT")));
    }

    /** OpenBLAS's threads, where OPENBLAS_NUM_THREADS left it to add4j. */
    static synchronized void setBlasThreads(int n) {
        if ("1".equals(System.getenv("OPENBLAS_NUM_THREADS"))) openblas_nolapack.blas_set_num_threads(n);
    }

    /**
     * OpenBLAS's threads for {@code torchThreads} of libtorch's: {@code ADD4J_BLAS_THREADS} where given; else as many as
     * libtorch's where OpenBLAS's idle threads go to sleep at once ({@code OPENBLAS_THREAD_TIMEOUT} at most 10, a wait
     * of 2^10 cycles; {@code ./add4j} sets 4, OpenBLAS's least); else 1.
     */
    static int blasThreadsFor(int torchThreads, String blasThreads, String threadTimeout) {
        if (blasThreads != null && !blasThreads.isBlank()) {
            try {
                int n = Integer.parseInt(blasThreads.trim());
                if (n >= 1) return n;
            } catch (NumberFormatException e) { /* falls through to the error */ }
            throw new Add4jException("ADD4J_BLAS_THREADS: expected a thread count >= 1, got '" + blasThreads + "'");
        }
        try {
            if (threadTimeout != null && Integer.parseInt(threadTimeout.trim()) <= 10) return torchThreads;
        } catch (NumberFormatException e) { /* OpenBLAS ignores it too: its default wait */ }
        return 1;
    }

    /** A setting's time; closing it puts the previous one back. */
    public interface Restore extends AutoCloseable { @Override void close(); }

    /**
     * Images in a batch up to which a sampling batch runs on one thread ({@link #threadsForBatch}), and up to which
     * {@code add4j serve} leaves a core free ({@code serve.ServeThreads}) [choice: measured at batch 1].
     */
    public static final int SMALL_BATCH = 4;

    /**
     * libtorch and OpenBLAS on one thread while a sampling batch of up to {@link #SMALL_BATCH} images runs, then
     * back to the count before; larger batches, and a count the user chose ({@code --threads},
     * {@code ADD4J_TORCH_THREADS}), are left alone. A batch of one image gains nothing from a second thread, and each op
     * that libtorch splits waits for it: where another process keeps that thread from being scheduled, 1-step sampling
     * at batch 1 took 0.6-2.2 s instead of 14 ms (README, "Notes for developers"). OpenBLAS alone on one thread
     * (libtorch on two) did not win batch 1's time back. The counts are process-wide: callers are the samplers, on the
     * thread that trains where a run also samples previews.
     */
    public static Restore threadsForBatch(long images) { return threadsForBatch(images, threadsGiven); }

    /** As {@link #threadsForBatch(long)}; {@code given}: the count is the user's, so it is left alone. */
    static synchronized Restore threadsForBatch(long images, boolean given) {
        int before = torch.get_num_threads();
        if (given || before == 1 || images > SMALL_BATCH) return () -> {};
        setThreads(1);
        return () -> setThreads(before);
    }

    /** As {@link #setThreads}, for a count the user chose ({@code --threads}): {@link #threadsForBatch} keeps it. */
    public static synchronized void setGivenThreads(int n) {
        setThreads(n);
        threadsGiven = true;
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
