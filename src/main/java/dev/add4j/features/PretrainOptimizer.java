package dev.add4j.features;

import dev.add4j.dist.Gradients;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Module;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW with DINO's two parameter groups ({@code utils.get_params_groups}): weight decay on weight matrices, none
 * on biases and other one-dimensional parameters (LayerNorm gains). Two libtorch optimisers rather than two
 * param groups of one, so no options object changes owner across the JNI boundary.
 */
final class PretrainOptimizer implements AutoCloseable {
    private final AdamW decayed, plain;
    private final TensorVector all;

    PretrainOptimizer(List<? extends Module> modules, double weightDecay) {
        List<Tensor> withDecay = new ArrayList<>(), without = new ArrayList<>();
        for (Module m : modules)
            for (var e : m.namedParameters().entrySet())
                (e.getKey().endsWith(".bias") || e.getValue().dim() == 1 ? without : withDecay).add(e.getValue());
        all = retained(new TensorVector(concat(withDecay, without)));
        AdamWOptions d = new AdamWOptions(0.0), p = new AdamWOptions(0.0);
        d.weight_decay().put(weightDecay);
        p.weight_decay().put(0.0); // libtorch's AdamW default is 1e-2, not 0
        decayed = retained(new AdamW(new TensorVector(withDecay.toArray(new Tensor[0])), d));
        plain = retained(new AdamW(new TensorVector(without.toArray(new Tensor[0])), p));
    }

    private static Tensor[] concat(List<Tensor> a, List<Tensor> b) {
        List<Tensor> out = new ArrayList<>(a);
        out.addAll(b);
        return out.toArray(new Tensor[0]);
    }

    /** Owned by this object, not by whatever scope is open when it is made. */
    private static <P extends org.bytedeco.javacpp.Pointer> P retained(P p) {
        p.retainReference();
        return p;
    }

    /** Its two AdamW optimisers, by name, for a checkpoint. */
    java.util.Map<String, org.bytedeco.pytorch.Optimizer> parts(String prefix) {
        return java.util.Map.of(prefix + "adamw_decayed", decayed, prefix + "adamw_plain", plain);
    }

    /** Clears every parameter's gradient. */
    void zeroGrad() {
        decayed.zero_grad();
        plain.zero_grad();
    }

    /**
     * Averages the gradients over the ranks of a data-parallel step ({@link Gradients}), clips their global norm to
     * {@code maxNorm} (skipped when not positive), then takes one step at learning rate {@code lr}.
     * @return the gradient norm before clipping (NaN when clipping is off)
     */
    double clipAndStep(double lr, double maxNorm) {
        // on several ranks the gradient is averaged first (a NaN on one rank reaches all, and the loop restarts them alike)
        Gradients.average(Shard.current().group(), all, true);
        double norm = maxNorm > 0 ? torch.clip_grad_norm_(all, maxNorm) : Double.NaN;
        setLr(decayed, lr);
        setLr(plain, lr);
        decayed.step();
        plain.step();
        return norm;
    }

    private static void setLr(AdamW opt, double lr) {
        var groups = opt.param_groups();
        for (long i = 0; i < groups.size(); i++) groups.get(i).options().set_lr(lr);
    }

    @Override public void close() {
        decayed.releaseReference();
        plain.releaseReference();
        all.releaseReference();
    }
}
