package dev.add4j.train;

import dev.add4j.dist.GradientReducer;
import dev.add4j.dist.Gradients;
import dev.add4j.dist.Group;
import dev.add4j.dist.Shard;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OptimizerParamGroup;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Optimisers whose options the preset API makes easy to get wrong. */
public final class Optimizers {
    private Optimizers() {}

    /**
     * Adam with the given betas. AdamOptions exposes its betas as a pointer to a {@code std::tuple<double,double>},
     * which libstdc++ lays out last element first: writing "beta1, beta2" in address order swaps them (measured:
     * a discriminator meant to run with betas (0, 0.99) got (0.99, 0) and blew up within six steps). The layout is
     * checked against libtorch's defaults (0.9, 0.999) before writing.
     */
    public static Adam adam(TensorVector params, double lr, double beta1, double beta2, double eps) {
        AdamOptions o = new AdamOptions(lr);
        var betas = o.betas();
        if (betas.get(1) != 0.9 || betas.get(0) != 0.999)
            throw new IllegalStateException("AdamOptions.betas(): unexpected layout " + betas.get(0) + ", " + betas.get(1));
        betas.put(1, beta1).put(0, beta2);
        o.eps().put(eps);
        return new Adam(params, o);
    }

    /** Adds {@code params} to {@code opt} as a group of its own: the optimiser's settings, but learning rate {@code lr}. */
    public static void addGroup(Optimizer opt, TensorVector params, double lr) {
        opt.add_param_group(new OptimizerParamGroup(params));   // libtorch gives it a copy of the optimiser's defaults
        var groups = opt.param_groups();
        groups.get(groups.size() - 1).options().set_lr(lr);
    }

    /**
     * One step of {@code opt} on {@code loss}, skipped when the loss or the gradient of {@code params} is not finite
     * (as mixed-precision loss scalers do: one bad batch must not turn every weight into NaN). The gradients are
     * zeroed first, and again after a skipped step. In a step of several ranks ({@link Shard#current()}) the
     * gradient is averaged over them first, and a step is skipped on every rank when it is on any.
     * @return whether the step was taken
     */
    public static boolean stepIfFinite(Optimizer opt, Tensor loss, TensorVector params) {
        return !Double.isNaN(stepIfFinite(opt, loss, params, Float.MAX_VALUE));
    }

    /**
     * As {@link #stepIfFinite(Optimizer, Tensor, TensorVector)}, with the gradient clipped to norm {@code maxNorm}.
     * @return the gradient's norm before clipping, or NaN when the step was skipped
     */
    public static double stepIfFinite(Optimizer opt, Tensor loss, TensorVector params, double maxNorm) {
        return stepIfFinite(opt, loss, params, maxNorm, null);
    }

    /**
     * As above, on several ranks with the gradient averaged during the backward pass by {@code reducer} (made for
     * {@code params}; null: averaged after it, {@link Gradients#average}).
     */
    public static double stepIfFinite(Optimizer opt, Tensor loss, TensorVector params, double maxNorm, GradientReducer reducer) {
        opt.zero_grad();
        boolean finite = Double.isFinite(dev.add4j.nn.Ops.f(loss));
        Group group = Shard.current().group();
        if (reducer != null && reducer.active()) {
            reducer.backward(loss);             // on every rank, a non-finite loss's too: the reducer's all-reduces need all
            if (group.any(!finite)) {
                opt.zero_grad();
                return Double.NaN;
            }
        } else {
            if (finite) loss.backward();
            // every optimiser step of every trainer comes here, so this one call makes them all data-parallel
            if (!Gradients.average(group, params, finite)) {
                opt.zero_grad();
                return Double.NaN;
            }
        }
        double norm = torch.clip_grad_norm_(params, maxNorm);
        if (!Double.isFinite(norm)) {
            opt.zero_grad();
            return Double.NaN;
        }
        opt.step();
        return norm;
    }
}
