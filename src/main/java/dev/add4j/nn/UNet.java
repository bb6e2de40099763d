package dev.add4j.nn;

import dev.add4j.nn.Layers.Conv2d;
import dev.add4j.nn.Layers.GroupNorm;
import dev.add4j.nn.Layers.LayerNorm;
import dev.add4j.nn.Layers.Linear;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * Text-conditional UNet: residual blocks with GroupNorm and SiLU, a sinusoidal timestep embedding to which the
 * pooled text embedding is added (global conditioning), and self- plus cross-attention to the text tokens at
 * the low resolutions. It predicts v (add-method.md §3); conversions live in {@code diffusion.Prediction}.
 *
 * <p>Shapes: x [B,C,H,W], t [B] (timestep indices, any dtype), tokens [B,L,D], mask [B,L] (1 = real token),
 * pooled [B,D] -> v [B,C,H,W].
 */
public final class UNet extends Module {

    /**
     * Architecture of a UNet.
     * @param imageChannels channels of the image (1 for Fashion-MNIST)
     * @param baseChannels  channels at full resolution
     * @param channelMults  channel multiplier per resolution level (each level after the first halves H and W)
     * @param resBlocks     residual blocks per level on the way down (one more on the way up)
     * @param attnLevels    levels (0 = full resolution) that get self- and cross-attention
     * @param heads         attention heads
     * @param textDim       width of the text token and pooled embeddings (384 for MiniLM)
     */
    public record Config(int imageChannels, int baseChannels, List<Integer> channelMults, int resBlocks,
                         List<Integer> attnLevels, int heads, int textDim) {
        public Config {
            // Multiples of 16: oneDNN's convolution backward gets the input gradient wrong for other output widths
            // (Layers.convolution); the UNet's inner widths avoid the padding that works around it.
            if (imageChannels < 1 || baseChannels < 16 || baseChannels % 16 != 0)
                throw new IllegalArgumentException("UNet: baseChannels must be a positive multiple of 16, got " + baseChannels);
            if (channelMults.isEmpty()) throw new IllegalArgumentException("UNet: channelMults is empty");
            if (resBlocks < 1) throw new IllegalArgumentException("UNet: resBlocks must be >= 1, got " + resBlocks);
            channelMults = List.copyOf(channelMults);
            attnLevels = List.copyOf(attnLevels);
        }

        /**
         * The teacher's size for 32 px Fashion-MNIST: 2.2M parameters. [choice] Attention only at 8x8 (and in the
         * middle): measured at batch 64 on 2 cores, attention at 16x16 as well doubled the step time.
         */
        public static Config fmnist() { return new Config(1, 32, List.of(1, 2, 2), 2, List.of(2), 4, 384); }

        /** A tiny network for tests. */
        public static Config tiny() { return new Config(1, 16, List.of(1, 2), 1, List.of(1), 2, 384); }
    }

    private final Config cfg;
    private final int embDim;
    private final Linear time1, time2, textProj;
    private final Conv2d convIn, convOut;
    private final GroupNorm normOut;
    private final List<Module> down = new ArrayList<>(); // ResBlock | AttnBlock | Downsample, in order
    private final List<Module> mid = new ArrayList<>();
    private final List<Module> up = new ArrayList<>();   // ResBlock (eats a skip) | AttnBlock | Upsample
    private final List<Integer> encoderChannels = new ArrayList<>(); // output channels of each down and mid block

    public UNet(Config cfg) {
        this.cfg = cfg;
        int ch0 = cfg.baseChannels();
        embDim = 4 * ch0;
        time1 = child("time.0", new Linear(ch0, embDim));
        time2 = child("time.1", new Linear(embDim, embDim));
        textProj = child("text_pool", new Linear(cfg.textDim(), embDim));
        convIn = child("conv_in", new Conv2d(cfg.imageChannels(), ch0, 3, 1, 1));

        List<Integer> skipCh = new ArrayList<>(List.of(ch0));
        int ch = ch0, levels = cfg.channelMults().size();
        for (int l = 0; l < levels; l++) {
            int out = ch0 * cfg.channelMults().get(l);
            for (int r = 0; r < cfg.resBlocks(); r++) {
                down.add(child("down." + down.size(), new ResBlock(ch, out, embDim)));
                ch = out;
                if (cfg.attnLevels().contains(l)) down.add(child("down." + down.size(), new AttnBlock(ch, cfg.textDim(), cfg.heads())));
                skipCh.add(ch);
            }
            if (l + 1 < levels) {
                down.add(child("down." + down.size(), new Downsample(ch)));
                skipCh.add(ch);
            }
            while (encoderChannels.size() < down.size()) encoderChannels.add(ch);
        }
        mid.add(child("mid.0", new ResBlock(ch, ch, embDim)));
        mid.add(child("mid.1", new AttnBlock(ch, cfg.textDim(), cfg.heads())));
        mid.add(child("mid.2", new ResBlock(ch, ch, embDim)));
        for (int i = 0; i < mid.size(); i++) encoderChannels.add(ch);
        for (int l = levels - 1; l >= 0; l--) {
            int out = ch0 * cfg.channelMults().get(l);
            for (int r = 0; r <= cfg.resBlocks(); r++) {
                up.add(child("up." + up.size(), new ResBlock(ch + skipCh.remove(skipCh.size() - 1), out, embDim)));
                ch = out;
                if (cfg.attnLevels().contains(l)) up.add(child("up." + up.size(), new AttnBlock(ch, cfg.textDim(), cfg.heads())));
            }
            if (l > 0) up.add(child("up." + up.size(), new Upsample(ch)));
        }
        normOut = child("norm_out", new GroupNorm(groups(ch), ch));
        convOut = child("conv_out", new Conv2d(ch, cfg.imageChannels(), 3, 1, 1).zeroInit());
    }

    public Config config() { return cfg; }

    /** Predicts v for noisy images {@code x} at timesteps {@code t} under the text condition. */
    public Tensor forward(Tensor x, Tensor t, Tensor tokens, Tensor mask, Tensor pooled) {
        Context ctx = context(x, t, tokens, mask, pooled);
        Tensor h = convIn.forward(x);                                                                      // [B,c0,H,W]
        List<Tensor> skips = new ArrayList<>(List.of(h));
        for (Module m : down) {
            h = apply(m, h, ctx);
            if (!(m instanceof AttnBlock)) skips.add(h); // an attention block refines the skip its ResBlock pushed
            else skips.set(skips.size() - 1, h);
        }
        for (Module m : mid) h = apply(m, h, ctx);
        for (Module m : up) {
            if (m instanceof ResBlock) h = torch.cat(new TensorVector(h, skips.remove(skips.size() - 1)), 1);
            h = apply(m, h, ctx);
        }
        return convOut.forward(torch.silu(normOut.forward(h)));                                            // [B,C,H,W]
    }

    /**
     * The encoder's feature maps, as a generative-feature discriminator reads them (LADD, Sauer et al. 2024): the
     * output of every block of the down path, then of the middle, in order. Same inputs as {@link #forward}.
     * @return one [B,C_k,H_k,W_k] per block
     */
    public List<Tensor> encoderFeatures(Tensor x, Tensor t, Tensor tokens, Tensor mask, Tensor pooled) {
        Context ctx = context(x, t, tokens, mask, pooled);
        List<Tensor> out = new ArrayList<>(down.size() + mid.size());
        Tensor h = convIn.forward(x);                                                                      // [B,c0,H,W]
        for (Module m : down) out.add(h = apply(m, h, ctx));
        for (Module m : mid) out.add(h = apply(m, h, ctx));
        return out;
    }

    /** Channels of the middle blocks: the width of the deepest feature maps. */
    public int midChannels() { return cfg.baseChannels() * cfg.channelMults().get(cfg.channelMults().size() - 1); }

    /** The channels of each map {@link #encoderFeatures} returns, in its order. */
    public List<Integer> encoderChannels() { return List.copyOf(encoderChannels); }

    private Context context(Tensor x, Tensor t, Tensor tokens, Tensor mask, Tensor pooled) {
        Ops.expectShape(x, "x", -1, cfg.imageChannels(), -1, -1);
        Ops.expectShape(tokens, "tokens", x.size(0), -1, cfg.textDim());
        Ops.expectShape(pooled, "pooled", x.size(0), cfg.textDim());
        Tensor emb = time2.forward(torch.silu(time1.forward(timestepEmbedding(t, cfg.baseChannels()))));  // [B,E]
        emb = emb.add(textProj.forward(pooled));                                                          // [B,E]
        Tensor attnMask = mask.gt(Ops.s(0.5)).reshape(x.size(0), 1, 1, -1);                               // [B,1,1,L] bool
        return new Context(emb, tokens, attnMask);
    }

    private record Context(Tensor emb, Tensor tokens, Tensor attnMask) {}

    private static Tensor apply(Module m, Tensor h, Context ctx) {
        if (m instanceof ResBlock r) return r.forward(h, ctx.emb());
        if (m instanceof AttnBlock a) return a.forward(h, ctx.tokens(), ctx.attnMask());
        if (m instanceof Downsample d) return d.conv.forward(h);
        if (m instanceof Upsample u) return u.conv.forward(torch.upsample_nearest2d(h, new long[]{h.size(2) * 2, h.size(3) * 2}));
        throw new IllegalStateException("unknown block " + m.getClass());
    }

    /** Sinusoidal embedding of timesteps, as in DDPM: [cos(t f), sin(t f)] with f from 1 to 1/10000. [B] -> [B,dim] */
    public static Tensor timestepEmbedding(Tensor t, int dim) {
        int half = dim / 2;
        Tensor freqs = torch.exp(torch.arange(Ops.s(0), Ops.s(half), Ops.floatOn(t.device()))
                .mul(Ops.s(-Math.log(10000.0) / half)));                                                 // [half]
        Tensor args = t.to(torch.ScalarType.Float).reshape(-1, 1).mul(freqs.reshape(1, -1));              // [B,half]
        return torch.cat(new TensorVector(args.cos(), args.sin()), 1);                                     // [B,dim]
    }

    static long groups(long ch) { return Math.min(8, ch / 4); }

    /** GroupNorm, SiLU, 3x3 conv, plus the timestep embedding, twice; residual (1x1 conv when widths differ). */
    static final class ResBlock extends Module {
        final GroupNorm norm1, norm2;
        final Conv2d conv1, conv2, skip;
        final Linear embProj;
        ResBlock(long in, long out, long embDim) {
            norm1 = child("norm1", new GroupNorm(groups(in), in));
            conv1 = child("conv1", new Conv2d(in, out, 3, 1, 1));
            embProj = child("emb", new Linear(embDim, out));
            norm2 = child("norm2", new GroupNorm(groups(out), out));
            conv2 = child("conv2", new Conv2d(out, out, 3, 1, 1).zeroInit()); // block starts as the identity
            skip = in == out ? null : child("skip", new Conv2d(in, out, 1, 1, 0));
        }
        Tensor forward(Tensor x, Tensor emb) {
            Tensor h = conv1.forward(torch.silu(norm1.forward(x)));                                        // [B,out,H,W]
            h = h.add(embProj.forward(torch.silu(emb)).reshape(h.size(0), -1, 1, 1));
            h = conv2.forward(torch.silu(norm2.forward(h)));
            return (skip == null ? x : skip.forward(x)).add(h);
        }
    }

    /** Self-attention over the pixels, then cross-attention from the pixels to the text tokens. */
    static final class AttnBlock extends Module {
        final GroupNorm norm1, norm2;
        final LayerNorm textNorm;
        final Linear qkv, proj1, q2, kv2, proj2;
        final long heads;
        AttnBlock(long ch, long textDim, long heads) {
            this.heads = heads;
            norm1 = child("norm1", new GroupNorm(groups(ch), ch));
            qkv = child("qkv", new Linear(ch, 3 * ch));
            proj1 = child("proj1", new Linear(ch, ch).zeroInit());
            norm2 = child("norm2", new GroupNorm(groups(ch), ch));
            textNorm = child("text_norm", new LayerNorm(textDim));
            q2 = child("q", new Linear(ch, ch));
            kv2 = child("kv", new Linear(textDim, 2 * ch));
            proj2 = child("proj2", new Linear(ch, ch).zeroInit());
        }
        Tensor forward(Tensor x, Tensor tokens, Tensor attnMask) {
            long b = x.size(0), c = x.size(1), hh = x.size(2), ww = x.size(3);
            // self-attention
            Tensor seq = norm1.forward(x).reshape(b, c, hh * ww).transpose(1, 2);                         // [B,N,C]
            // narrow, not chunk: a TensorVector's get() is a non-owning view that dangles once the vector is collected
            Tensor qkvAll = qkv.forward(seq);                                                             // [B,N,3C]
            Tensor a = attend(qkvAll.narrow(2, 0, c), qkvAll.narrow(2, c, c), qkvAll.narrow(2, 2 * c, c), null); // [B,N,C]
            x = x.add(proj1.forward(a).transpose(1, 2).reshape(b, c, hh, ww));
            // cross-attention to the text tokens (padding masked out)
            seq = norm2.forward(x).reshape(b, c, hh * ww).transpose(1, 2);                                // [B,N,C]
            Tensor kv = kv2.forward(textNorm.forward(tokens));                                            // [B,L,2C]
            a = attend(q2.forward(seq), kv.narrow(2, 0, c), kv.narrow(2, c, c), attnMask);
            return x.add(proj2.forward(a).transpose(1, 2).reshape(b, c, hh, ww));
        }
        /** Multi-head scaled dot-product attention. q [B,N,C], k and v [B,M,C] -> [B,N,C]. */
        private Tensor attend(Tensor q, Tensor k, Tensor v, Tensor mask) {
            long b = q.size(0), n = q.size(1), m = k.size(1), c = q.size(2), d = c / heads;
            Tensor qh = q.reshape(b, n, heads, d).transpose(1, 2);                                        // [B,h,N,d]
            Tensor kh = k.reshape(b, m, heads, d).transpose(1, 2);                                        // [B,h,M,d]
            Tensor vh = v.reshape(b, m, heads, d).transpose(1, 2);
            Tensor o = Attention.scaledDotProduct(qh, kh, vh, mask, false);                                // [B,h,N,d]
            return o.transpose(1, 2).reshape(b, n, c);
        }
    }

    /** Stride-2 3x3 convolution. */
    static final class Downsample extends Module {
        final Conv2d conv;
        Downsample(long ch) { conv = child("conv", new Conv2d(ch, ch, 3, 2, 1)); }
    }

    /** Nearest-neighbour 2x upsampling then a 3x3 convolution. */
    static final class Upsample extends Module {
        final Conv2d conv;
        Upsample(long ch) { conv = child("conv", new Conv2d(ch, ch, 3, 1, 1)); }
    }
}
