package dev.add4j.eval;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/** Test helpers: float64 tensors from Java arrays (Ops has float32 only). */
final class TestTensors {
    private TestTensors() {}

    /** A CPU float64 tensor holding a copy of {@code v}, of the given shape. */
    static Tensor doubles(double[] v, long... shape) {
        try (DoublePointer p = new DoublePointer(v); TensorOptions o = new TensorOptions(torch.ScalarType.Double)) {
            return torch.from_blob(p, shape, o).clone();
        }
    }
}
