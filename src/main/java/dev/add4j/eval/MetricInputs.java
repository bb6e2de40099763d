package dev.add4j.eval;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.Arrays;

/** The checks every metric makes on its inputs, so each one fails with the same clear message. */
final class MetricInputs {
    private MetricInputs() {}

    /**
     * A feature matrix [N,D] with N >= {@code minRows} and only finite values, as float64 on its own device.
     * @throws IllegalArgumentException naming {@code name} and what was wrong
     */
    static Tensor features(Tensor t, String name, long minRows) {
        if (t == null || !t.defined()) throw new IllegalArgumentException(name + ": tensor is missing");
        long[] shape = Ops.shape(t);
        if (shape.length != 2)
            throw new IllegalArgumentException(name + ": expected a feature matrix [N,D], got shape " + str(shape));
        if (shape[0] < minRows)
            throw new IllegalArgumentException(name + ": needs at least " + minRows + " rows, got " + shape[0]);
        if (shape[1] < 1) throw new IllegalArgumentException(name + ": feature dimension is 0");
        if (!t.is_floating_point())
            throw new IllegalArgumentException(name + ": expected floating-point features, got " + t.scalar_type().intern());
        Tensor x = t.detach().to(torch.ScalarType.Double);
        if (!x.isfinite().all().item_bool())
            throw new IllegalArgumentException(name + ": contains NaN or infinite values");
        return x;
    }

    /** Throws unless {@code a} and {@code b} have the same feature dimension (size of dim 1 / dim 0 for vectors). */
    static void sameDim(Tensor a, String aName, Tensor b, String bName) {
        long da = a.size(a.dim() - 1), db = b.size(b.dim() - 1);
        if (da != db)
            throw new IllegalArgumentException("feature dimensions differ: " + aName + " has " + da + ", " + bName + " has " + db);
    }

    static String str(long[] shape) { return Arrays.toString(shape).replace(" ", ""); }
}
