package dev.add4j.nn;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

import java.util.Arrays;

/**
 * Thin helpers over the JavaCPP libtorch API where it needs boilerplate (scalars, shapes, Java arrays).
 * Nothing here re-implements an operation that libtorch has.
 */
public final class Ops {
    private Ops() {}

    /** A libtorch scalar. */
    public static Scalar s(double v) { return new Scalar(v); }

    /** The value of a one-element tensor as a Java double. */
    public static double f(Tensor t) { return t.item_double(); }

    /** The shape of a tensor. */
    public static long[] shape(Tensor t) {
        long[] s = t.sizes().vec().get();
        java.lang.ref.Reference.reachabilityFence(t); // sizes() is a view into t: keep t alive until copied
        return s;
    }

    /** Float32 options on a device. */
    public static TensorOptions floatOn(Device device) {
        return new TensorOptions(torch.ScalarType.Float).device(new org.bytedeco.pytorch.DeviceOptional(device));
    }

    /** Int64 options on a device. */
    public static TensorOptions longOn(Device device) {
        return new TensorOptions(torch.ScalarType.Long).device(new org.bytedeco.pytorch.DeviceOptional(device));
    }

    /** A CPU float32 tensor holding a copy of {@code data}, of the given shape. */
    public static Tensor fromFloats(float[] data, long... shape) {
        long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        if (n != data.length)
            throw new IllegalArgumentException("fromFloats: shape " + Arrays.toString(shape) + " needs " + n + " values, got " + data.length);
        try (FloatPointer p = new FloatPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Float)).clone();
        }
    }

    /** A CPU int64 tensor holding a copy of {@code data}, of the given shape. */
    public static Tensor fromLongs(long[] data, long... shape) {
        try (LongPointer p = new LongPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Long)).clone();
        }
    }

    /** A copy of a tensor's values as floats (moved to the CPU and made contiguous first). */
    public static float[] toFloats(Tensor t) {
        Tensor c = t.detach().to(new Device("cpu"), torch.ScalarType.Float).contiguous();
        float[] out = new float[(int) c.numel()];
        if (out.length > 0) new FloatPointer(c.data_ptr()).capacity(out.length).get(out);
        java.lang.ref.Reference.reachabilityFence(c); // data_ptr() is a view into c
        return out;
    }

    /** A copy of an integer tensor's values as longs. */
    public static long[] toLongs(Tensor t) {
        Tensor c = t.detach().to(new Device("cpu"), torch.ScalarType.Long).contiguous();
        long[] out = new long[(int) c.numel()];
        if (out.length > 0) new LongPointer(c.data_ptr()).capacity(out.length).get(out);
        java.lang.ref.Reference.reachabilityFence(c); // data_ptr() is a view into c
        return out;
    }

    /**
     * Checks a tensor's shape at a public entry; -1 in {@code expected} matches any size.
     * @throws IllegalArgumentException naming the tensor, the expected and the received shape
     */
    public static void expectShape(Tensor t, String name, long... expected) {
        long[] got = shape(t);
        boolean ok = got.length == expected.length;
        for (int i = 0; ok && i < got.length; i++) ok = expected[i] < 0 || expected[i] == got[i];
        if (!ok) {
            StringBuilder e = new StringBuilder("[");
            for (int i = 0; i < expected.length; i++) e.append(i > 0 ? "," : "").append(expected[i] < 0 ? "*" : String.valueOf(expected[i]));
            throw new IllegalArgumentException(name + ": expected " + e + "], got " + Arrays.toString(got).replace(" ", ""));
        }
    }

    /**
     * Runs {@code body} in a scope of its own and hands its result to the enclosing scope: every other tensor
     * the body made is freed on return. Loops that keep one tensor per iteration (samplers) use it so memory
     * stays flat however many steps they take.
     */
    public static Tensor inScope(java.util.function.Supplier<Tensor> body) {
        Tensor result;
        try (var scope = new org.bytedeco.javacpp.PointerScope()) {
            result = body.get();
            result.retainReference(); // survives this scope's close
        }
        var outer = org.bytedeco.javacpp.PointerScope.getInnerScope();
        if (outer != null) {
            outer.attach(result);      // now owned by the enclosing scope...
            result.releaseReference(); // ...and by it alone
        }
        return result;
    }

    /** Reshapes a per-sample vector [B] to [B,1,1,1] so it broadcasts over images. */
    public static Tensor perSample(Tensor v) { return v.reshape(-1, 1, 1, 1); }
}
