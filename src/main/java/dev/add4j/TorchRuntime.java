package dev.add4j;

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
        if (threads != null && !threads.isBlank()) torch.set_num_threads(Integer.parseInt(threads.trim()));
        else if ("1".equals(System.getenv("OPENBLAS_NUM_THREADS")))
            torch.set_num_threads(Runtime.getRuntime().availableProcessors()); // libtorch's own default here was 1 of 2
        if ("0".equals(System.getenv("ADD4J_ONEDNN"))) torch.globalContext().setUserEnabledMkldnn(false);
        initialised = true;
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
