package dev.add4j.add;

import dev.add4j.dist.Group;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.Map;

/**
 * Instrumentation of the student's update: how strongly each loss pulls on the student's output x̂0, as the mean
 * per-image L2 norm of its gradient with respect to x̂0 (times the batch size, since each loss is a batch mean).
 * A discriminator that cannot tell real from fake shows as {@code grad_adv} that is small or noise next to
 * {@code grad_distill}; one that dominates shows the opposite. The graphs are kept for the update itself.
 */
final class StudentSignal {
    private StudentSignal() {}

    /**
     * Puts grad_adv and grad_distill (the latter already weighted by λ) into {@code stats} for the losses that are on,
     * and returns the adversarial loss's weight: 1 (the paper), or with {@link AddConfig#advRatio} the weight that makes
     * its pull that ratio of the distillation's (also put, as adv_weight). On several ranks the weight is that of the
     * whole batch's norms.
     */
    static double of(Tensor lAdv, Tensor lDistillWeighted, Tensor x0Hat, AddConfig cfg, Map<String, Double> stats) {
        double gAdv = cfg.paper().loss().adversarial() ? norm(lAdv, x0Hat) : 0, gDistill = cfg.paper().loss().distillation() ? norm(lDistillWeighted, x0Hat) : 0;
        if (cfg.paper().loss().adversarial()) stats.put("grad_adv", gAdv);
        if (cfg.paper().loss().distillation()) stats.put("grad_distill", gDistill);
        if (cfg.extras().advRatio() == 0) return 1;
        // each rank's norms are means over its rows: their mean over the ranks is the whole batch's, the same weight everywhere
        Group group = Shard.current().group();
        if (group.size() > 1) {
            double[] sum = group.allReduceSum(new double[]{gAdv, gDistill});
            gAdv = sum[0] / group.size();
            gDistill = sum[1] / group.size();
        }
        double w = gAdv > 0 ? cfg.extras().advRatio() * gDistill / gAdv : 1;
        stats.put("adv_weight", w);
        return w;
    }

    private static double norm(Tensor l, Tensor x) {
        TensorVector g = torch.grad(new TensorVector(l), new TensorVector(x), new TensorVector(), new BoolOptional(true), false, true);
        Tensor gx = g.get(0);
        if (!gx.defined()) return 0;
        Tensor perImage = gx.square().sum(new long[]{1, 2, 3}, false, new ScalarTypeOptional()).sqrt();  // [B]
        return Ops.f(perImage.mean()) * x.size(0);
    }
}
