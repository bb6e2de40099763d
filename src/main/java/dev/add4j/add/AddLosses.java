package dev.add4j.add;

import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.List;

/**
 * ADD's losses (add-method.md §4), each a pure function that returns the loss and never calls backward.
 * Logits come as one [B,N] tensor per discriminator head; each head's loss is a mean over samples and tokens,
 * and the heads are summed (Σ_k in the paper).
 */
public final class AddLosses {
    private AddLosses() {}

    /** Discriminator hinge loss: Σ_k E[max(0, 1 − D_k(real))] + E[max(0, 1 + D_k(fake))]. */
    public static Tensor hingeD(List<Tensor> realLogits, List<Tensor> fakeLogits) {
        Tensor sum = torch.zeros(1).to(realLogits.get(0).device(), torch.ScalarType.Float).squeeze();
        for (Tensor r : realLogits) sum = sum.add(torch.relu(r.neg().add(Ops.s(1))).mean());
        for (Tensor f : fakeLogits) sum = sum.add(torch.relu(f.add(Ops.s(1))).mean());
        return sum;
    }

    /** The student's adversarial loss: L_adv^G = −Σ_k E[D_k(fake)]. */
    public static Tensor adversarialG(List<Tensor> fakeLogits) {
        Tensor sum = fakeLogits.get(0).mean().neg();
        for (int k = 1; k < fakeLogits.size(); k++) sum = sum.sub(fakeLogits.get(k).mean());
        return sum;
    }

    /**
     * R1 = Σ_k E‖∂D_k/∂f_k‖², the squared gradient of each head's summed logits with respect to that head's input
     * features f_k of the real images (not the pixels). The gradient graph is kept (create_graph), so the
     * penalty's own gradient reaches the heads' weights: an exact second-order gradient.
     * @param realLogits one [B,N] per head, computed from {@code features}
     * @param features   each head's input [B,C,N], a leaf that requires grad
     */
    public static Tensor r1Penalty(List<Tensor> realLogits, List<Tensor> features) {
        Tensor[] outs = new Tensor[realLogits.size()];
        for (int k = 0; k < outs.length; k++) outs[k] = realLogits.get(k).sum();
        TensorVector grads = torch.grad(new TensorVector(outs), new TensorVector(features.toArray(new Tensor[0])),
                new TensorVector(), new BoolOptional(true), true, false);
        Tensor sum = null;
        for (int k = 0; k < features.size(); k++) {
            Tensor g = grads.get(k);                                                     // [B,C,N], or pixels [B,C,H,W]
            Tensor perSample = g.square().reshape(g.size(0), -1).sum(new long[]{1}, false, new ScalarTypeOptional()); // [B]
            sum = sum == null ? perSample.mean() : sum.add(perSample.mean());
        }
        return sum;
    }

    /**
     * Score distillation: E[c(t)·‖x̂_θ − sg(x̂_ψ)‖²], the squared error a per-pixel mean [choice: keeps the loss's
     * scale independent of the image size], then weighted per sample and averaged over the batch.
     * @param x0Hat the student's output [B,C,H,W] (with gradient)
     * @param t     the teacher's target for it (no gradient)
     */
    public static Tensor distillation(Tensor x0Hat, TeacherTarget.Target t) {
        Tensor err = x0Hat.sub(t.x0Target()).square().mean(new long[]{1, 2, 3}, false, new ScalarTypeOptional()); // [B]
        return err.mul(t.cT().reshape(-1)).mean();
    }
}
