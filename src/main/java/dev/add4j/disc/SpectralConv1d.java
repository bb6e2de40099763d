package dev.add4j.disc;

import dev.add4j.nn.FlopCounter;
import dev.add4j.nn.Layers;
import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * 1-d convolution whose weight is divided by its largest singular value (spectral normalisation, Miyato et al.
 * 2018), as in StyleGAN-T's discriminator heads: it bounds each layer's Lipschitz constant, which keeps the
 * discriminator from overpowering the generator. sigma is estimated by one power iteration per training forward,
 * with the vectors u, v kept as buffers (PyTorch's {@code spectral_norm} does the same).
 * <p>Shapes: x [B,in,N] -> [B,out,N] (same padding, odd kernel).
 */
public final class SpectralConv1d extends Module {
    private final Tensor weight, bias, u, v;
    private final long kernel;

    public SpectralConv1d(long in, long out, long kernel) {
        if (kernel % 2 == 0) throw new IllegalArgumentException("kernel must be odd, got " + kernel);
        this.kernel = kernel;
        double bound = 1.0 / Math.sqrt(in * kernel);
        weight = param("weight", Layers.uniform(bound, out, in, kernel));                      // [out,in,k]
        bias = param("bias", Layers.uniform(bound, out));                                     // [out]
        u = buffer("u", unit(torch.randn(out)));                     // [out]
        v = buffer("v", unit(torch.randn(in * kernel)));             // [in*k]
    }

    /** The largest singular value of the weight as a matrix [out, in*k]; differentiable in the weight. */
    public Tensor sigma() {
        Tensor w = weight.reshape(weight.size(0), -1);                                        // [out,in*k]
        if (isTraining()) {
            try (var g = new NoGradGuard()) {                                                 // power iteration
                v.copy_(unit(torch.mv(w.t(), u)));
                u.copy_(unit(torch.mv(w, v)));
            }
        }
        // clones: a later forward updates u, v in place, and this graph must still see today's values (as PyTorch)
        return torch.dot(u.clone(), torch.mv(w, v.clone()));                                  // []
    }

    public Tensor forward(Tensor x) {
        Tensor w = weight.div(sigma());                                                        // [out,in,k]
        Tensor y = Layers.convolution(x, w, bias, 1, kernel / 2);
        FlopCounter.layer(x, weight, y);
        return y;
    }

    private static Tensor unit(Tensor x) { return x.div(x.norm().add(Ops.s(1e-12))); }
}
