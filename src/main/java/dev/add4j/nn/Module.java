package dev.add4j.nn;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A network built from named parameters and named child modules, as in PyTorch's nn.Module, over the
 * functional libtorch ops. Parameters are created once (outside any step scope) and live as long as the module;
 * moving or loading weights changes their data in place, so every Java reference to a parameter stays valid.
 */
public abstract class Module {
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a trainable parameter under {@code name}; the tensor is made a leaf that requires grad. */
    protected Tensor param(String name, Tensor init) {
        // Keep the owner of the native tensor: an in-place call such as requires_grad_ returns a non-owning
        // reference that dangles once its owner is collected.
        Tensor p = init.detach();
        p.requires_grad_(true);
        p.retainReference(); // owned by the module, not by whatever scope was open when it was made
        params.put(name, p);
        return p;
    }

    /**
     * Registers non-trainable state under {@code name} (spectral norm's power-iteration vectors): moved by
     * {@link #to}, saved in checkpoints through {@link #namedBuffers}, never given to an optimiser.
     */
    protected Tensor buffer(String name, Tensor init) {
        Tensor b = init.detach();
        b.retainReference(); // owned by the module
        buffers.put(name, b);
        return b;
    }

    /** Registers a child module under {@code name}. */
    protected <M extends Module> M child(String name, M m) {
        children.put(name, m);
        return m;
    }

    /** All parameters with dotted names ("down.0.conv1.weight"), in registration order. */
    public Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out) {
        params.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collect(prefix + k + ".", out));
    }

    /** All buffers with dotted names, in registration order (empty for most modules). */
    public Map<String, Tensor> namedBuffers() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collectBuffers("", out);
        return out;
    }

    private void collectBuffers(String prefix, Map<String, Tensor> out) {
        buffers.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collectBuffers(prefix + k + ".", out));
    }

    /** Copies saved buffer values (same names and shapes as {@link #namedBuffers}) into this module's buffers. */
    public void loadBuffers(Map<String, Tensor> saved, String context) {
        try (var g = new NoGradGuard()) {
            for (var e : namedBuffers().entrySet()) {
                Tensor src = saved.get(e.getKey());
                if (src == null || !java.util.Arrays.equals(Ops.shape(src), Ops.shape(e.getValue())))
                    throw new dev.add4j.Add4jException(context + ": buffer '" + e.getKey() + "' is missing or has another shape");
                e.getValue().copy_(src);
            }
        }
    }

    /** All parameters, for an optimiser. */
    public TensorVector parameterVector() {
        return new TensorVector(namedParameters().values().toArray(new Tensor[0]));
    }

    /** Number of scalar parameters. */
    public long parameterCount() {
        return namedParameters().values().stream().mapToLong(Tensor::numel).sum();
    }

    /** Sets training mode here and in every child (affects modules that behave differently, e.g. dropout). */
    public Module train(boolean on) {
        training = on;
        children.values().forEach(c -> c.train(on));
        return this;
    }

    public boolean isTraining() { return training; }

    /** Turns gradient tracking of every parameter on or off (frozen networks). */
    public Module requiresGrad(boolean on) {
        namedParameters().values().forEach(p -> p.requires_grad_(on));
        return this;
    }

    /** Moves every parameter to {@code device}, in place. */
    public Module to(Device device) {
        try (var g = new NoGradGuard()) {
            for (Tensor p : namedParameters().values()) p.set_data(p.to(device, p.scalar_type()));
            for (Tensor b : namedBuffers().values()) b.set_data(b.to(device, b.scalar_type()));
        }
        return this;
    }

    /**
     * Copies weights into this module's parameters (same names, same shapes); extra or missing names are errors.
     * @param context what is being loaded, for the error message (a file name)
     */
    public void load(Map<String, Tensor> weights, String context) {
        Map<String, Tensor> own = namedParameters();
        List<String> missing = new ArrayList<>();
        for (String k : own.keySet()) if (!weights.containsKey(k)) missing.add(k);
        List<String> extra = new ArrayList<>();
        for (String k : weights.keySet()) if (!own.containsKey(k)) extra.add(k);
        if (!missing.isEmpty() || !extra.isEmpty())
            throw new dev.add4j.Add4jException(context + ": weights do not match the network: missing "
                    + head(missing) + ", unexpected " + head(extra));
        try (var g = new NoGradGuard()) {
            for (var e : own.entrySet()) {
                Tensor src = weights.get(e.getKey());
                long[] want = Ops.shape(e.getValue()), got = Ops.shape(src);
                if (!java.util.Arrays.equals(want, got))
                    throw new dev.add4j.Add4jException(context + ": '" + e.getKey() + "' has shape "
                            + java.util.Arrays.toString(got) + ", the network needs " + java.util.Arrays.toString(want));
                e.getValue().copy_(src);
            }
        }
    }

    private static String head(List<String> names) {
        if (names.isEmpty()) return "none";
        return names.size() <= 3 ? names.toString() : names.subList(0, 3) + " and " + (names.size() - 3) + " more";
    }

    /** Copies this module's parameter values into {@code target}, which must have the same structure. */
    public void copyTo(Module target) { target.load(namedParameters(), "copy"); }
}
