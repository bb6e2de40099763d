package dev.add4j;

import org.bytedeco.openblas.global.openblas_full;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/** Process-wide libtorch settings, made once at start-up, and the choice of device. */
public final class TorchRuntime {
    private static volatile boolean initialised;

    private TorchRuntime() {}

    /**
     * Loads libtorch and sets OpenBLAS to one thread: with two thread pools fighting over the cores,
     * small steps get about ten times slower (measured on 2 cores).
     */
    public static synchronized void init() {
        if (initialised) return;
        try {
            openblas_full.openblas_set_num_threads(1);
        } catch (Throwable ignored) {
            // no OpenBLAS JNI library (some packed runtimes): libtorch's own BLAS is used then
        }
        torch.manual_seed(0);
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
