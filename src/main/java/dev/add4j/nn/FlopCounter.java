package dev.add4j.nn;

import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;

/**
 * Counts the floating-point operations of the layers that run on this thread while the counter is open, from the
 * shapes actually run (for {@code add4j bench}'s achieved GFLOP/s). Only the products are counted, one multiply-add
 * as 2 FLOPs: {@link Layers.Linear}, {@link Layers.Conv2d}, {@code disc.SpectralConv1d} and {@link Attention}'s two
 * matrix products. Norms, activations and the sampler's arithmetic are left out (a few percent of the total).
 * <ul>
 *   <li>linear: 2 · rows · in · out; convolution: 2 · B · Cout · (output positions) · Cin · k^d / groups;
 *   <li>attention: 2 · 2 · B · h · N · M · d (q kᵀ, then the weights times v).
 * </ul>
 * <p>The backward pass is not run here, so it is estimated when the forward runs with gradients on: each product's
 * backward costs one product of the same size per operand that needs a gradient (input, weight). With both that is
 * the usual "backward ≈ 2 × forward"; a frozen network that passes a gradient to its input costs 1 ×.
 * <p>Counters are thread-local (each thread counts its own calls); when none is open anywhere a layer pays one
 * volatile read. Open counters nest: an inner one counts too, and so do its outer ones.
 */
public final class FlopCounter implements AutoCloseable {
    private static final ThreadLocal<FlopCounter> CURRENT = new ThreadLocal<>();
    private static volatile int open;              // counters open on any thread: 0 keeps the layers' check cheap

    private final FlopCounter outer;
    private long forward, backward;
    private boolean closed;

    private FlopCounter(FlopCounter outer) { this.outer = outer; }

    /** Opens a counter on this thread; close it (try-with-resources) to stop counting. */
    public static FlopCounter start() {
        FlopCounter c = new FlopCounter(CURRENT.get());
        CURRENT.set(c);
        synchronized (FlopCounter.class) { open++; }
        return c;
    }

    /** Forward FLOPs counted so far. */
    public long forward() { return forward; }

    /** Estimated backward FLOPs of the forward calls counted so far that ran with gradients (see the class comment). */
    public long backward() { return backward; }

    /** Forward plus estimated backward FLOPs. */
    public long total() { return forward + backward; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        if (CURRENT.get() == this) {
            if (outer == null) CURRENT.remove(); else CURRENT.set(outer);
        }
        synchronized (FlopCounter.class) { open--; }
    }

    /**
     * A linear or convolution layer ran: y = x * weight. Its FLOPs are 2 · y.numel() · (weight.numel() / out), the
     * products each output value sums over (in for a linear layer, Cin/groups · k^d for a convolution).
     * @param weight [out, ...]: the layer's parameter (its requires_grad says whether the backward computes dW)
     */
    public static void layer(Tensor x, Tensor weight, Tensor y) {
        if (open == 0) return;
        FlopCounter c = CURRENT.get();
        if (c == null) return;
        c.add(2 * y.numel() * (weight.numel() / weight.size(0)), x.requires_grad(), weight.requires_grad());
    }

    /** softmax(q kᵀ) v ran with q [B,h,N,d], k and v [B,h,M,d]: two products of 2 · B·h·N·d · M FLOPs each. */
    static void attention(Tensor q, Tensor k, Tensor v) {
        if (open == 0) return;
        FlopCounter c = CURRENT.get();
        if (c == null) return;
        long product = 2 * q.numel() * k.size(-2);
        boolean qk = q.requires_grad() || k.requires_grad();
        c.add(product, q.requires_grad(), k.requires_grad());                 // logits = q kᵀ
        c.add(product, qk, v.requires_grad());                                // weights (from q, k) times v
    }

    private void add(long flops, boolean inputGrad, boolean weightGrad) {
        long bwd = GradMode.is_enabled() ? flops * ((inputGrad ? 1 : 0) + (weightGrad ? 1 : 0)) : 0;
        for (FlopCounter c = this; c != null; c = c.outer) {
            if (c.closed) continue;
            c.forward += flops;
            c.backward += bwd;
        }
    }
}
