package dev.add4j.dist;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The data-parallel gradient: each rank's gradient, from the mean loss over its shard, averaged over the ranks, which
 * for equal shards is the gradient of the global batch's mean loss. One bucket: every gradient flattened into one
 * buffer with a flag behind it (torch's flatten_dense_tensors), one all-reduce, and the buffer copied back.
 */
public final class Gradients {
    private Gradients() {}

    /**
     * Averages the gradients of {@code params} over {@code group}'s ranks, in place.
     * A parameter without a gradient must have none on every rank (the same graph everywhere).
     * @param finite whether this rank's loss was finite (it then ran backward; otherwise its gradients are ignored)
     * @return whether every rank's loss was finite; when not, the gradients are left as they were and every rank
     *         skips the step alike. A non-finite gradient on any rank reaches every rank's average, and with it
     *         the same non-finite gradient norm, so that skip agrees too.
     */
    public static boolean average(Group group, TensorVector params, boolean finite) {
        if (group.size() == 1) return finite;
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            int n = (int) params.size();
            Tensor[] parts = new Tensor[n + 1];
            Tensor[] grads = new Tensor[n];
            for (int i = 0; i < n; i++) {
                Tensor p = params.get(i), g = p.grad();
                grads[i] = g.defined() && finite ? g : null;
                parts[i] = grads[i] != null ? g.reshape(-1) : torch.zeros(p.numel()).to(p.device(), p.scalar_type()); // [numel]
            }
            Tensor like = params.get(0);
            parts[n] = torch.zeros(1).add(Ops.s(finite ? 0 : 1)).to(like.device(), like.scalar_type());  // [1] ranks not finite
            Tensor flat = torch.cat(new TensorVector(parts));                                             // [P+1]
            group.allReduceSum(flat);
            if (Ops.f(flat.narrow(0, flat.size(0) - 1, 1)) > 0) return false;
            flat.div_(Ops.s(group.size()));
            long at = 0;
            for (int i = 0; i < n; i++) {
                long k = params.get(i).numel();
                if (grads[i] != null) grads[i].copy_(flat.narrow(0, at, k).view_as(grads[i]));
                at += k;
            }
            return true;
        }
    }
}
