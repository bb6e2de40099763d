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
        // Limits that fit one machine, checked before anything is allocated (a model file's config is untrusted
        // input): far above the shipped models (32 channels, 3 levels, 2 blocks) yet well below what runs out of memory.
        static final int MAX_IMAGE_CHANNELS = 64, MAX_BASE_CHANNELS = 1024, MAX_WIDTH = 4096, MAX_MULT = 16,
                MAX_LEVELS = 6, MAX_RES_BLOCKS = 16, MAX_HEADS = 64, MAX_TEXT_DIM = 4096;
        /** At most 2^30 parameters: 4 GiB as float32. */
        public static final long MAX_PARAMETERS = 1L << 30;

        public Config {
            // Each message names one field, so a bad or missing (0) value is blamed on itself.
            if (channelMults == null) throw new IllegalArgumentException("UNet: channelMults is missing");
            if (attnLevels == null) throw new IllegalArgumentException("UNet: attnLevels is missing");
            range("imageChannels", imageChannels, 1, MAX_IMAGE_CHANNELS);
            // Multiples of 16: oneDNN's convolution backward gets the input gradient wrong for other output widths
            // (Layers.convolution); the UNet's inner widths avoid the padding that works around it.
            if (baseChannels < 16 || baseChannels > MAX_BASE_CHANNELS || baseChannels % 16 != 0)
                throw new IllegalArgumentException("UNet: baseChannels must be a positive multiple of 16"
                        + (baseChannels > MAX_BASE_CHANNELS ? " up to " + MAX_BASE_CHANNELS : "") + ", got " + baseChannels);
            if (channelMults.isEmpty()) throw new IllegalArgumentException("UNet: channelMults is empty");
            if (channelMults.size() > MAX_LEVELS) // each level halves the image: 6 take 32 px to 1 px
                throw new IllegalArgumentException("UNet: channelMults has " + channelMults.size() + " levels, at most " + MAX_LEVELS);
            for (int m : channelMults) {
                range("channelMults item", m, 1, MAX_MULT);
                if (baseChannels * m > MAX_WIDTH)
                    throw new IllegalArgumentException("UNet: baseChannels x channelMults item = " + baseChannels * m + " channels, at most " + MAX_WIDTH);
            }
            range("resBlocks", resBlocks, 1, MAX_RES_BLOCKS);
            range("heads", heads, 1, MAX_HEADS);
            range("textDim", textDim, 1, MAX_TEXT_DIM);
            int levels = channelMults.size(), midWidth = baseChannels * channelMults.get(levels - 1);
            for (int l : attnLevels) {
                if (l < 0 || l >= levels) throw new IllegalArgumentException("UNet: attnLevels item must be in 0.." + (levels - 1) + ", got " + l);
                int width = baseChannels * channelMults.get(l);
                if (width % heads != 0) // attention splits the channels evenly among the heads
                    throw new IllegalArgumentException("UNet: heads " + heads + " must divide the attention width " + width + " at level " + l);
            }
            if (midWidth % heads != 0)
                throw new IllegalArgumentException("UNet: heads " + heads + " must divide the middle block's width " + midWidth);
            channelMults = List.copyOf(channelMults);
            attnLevels = List.copyOf(attnLevels);
            long n = UNet.countParameters(imageChannels, baseChannels, channelMults, resBlocks, attnLevels, textDim);
            if (n > MAX_PARAMETERS)
                throw new IllegalArgumentException("UNet: the config makes " + n + " parameters, at most " + MAX_PARAMETERS);
        }

        private static void range(String field, int value, int min, int max) {
            if (value < min || value > max)
                throw new IllegalArgumentException("UNet: " + field + " must be in " + min + ".." + max + ", got " + value);
        }

        /** How many parameters a UNet of this config has, computed without allocating it. */
        public long parameterCount() { return UNet.countParameters(imageChannels, baseChannels, channelMults, resBlocks, attnLevels, textDim); }

        /**
         * The teacher's size for 32 px Fashion-MNIST: 2.2M parameters. [choice] Attention only at 8x8 (and in the
         * middle): measured at batch 64 on 2 cores, attention at 16x16 as well doubled the step time.
         */
        public static Config fmnist() { return new Config(1, 32, List.of(1, 2, 2), 2, List.of(2), 4, 384); }

        /** This architecture for images of {@code c} channels (1 grey, 3 RGB). */
        public Config withImageChannels(int c) { return new Config(c, baseChannels, channelMults, resBlocks, attnLevels, heads, textDim); }

        /** A tiny network for tests. */
        public static Config tiny() { return new Config(1, 16, List.of(1, 2), 1, List.of(1), 2, 384); }
    }

    /**
     * The parameter count of the network the constructor below builds, block by block in the same order (UNetTest
     * checks the two agree), so that a model file's config can be checked against its weights before allocating.
     */
    private static long countParameters(int imageChannels, int ch0, List<Integer> mults, int resBlocks, List<Integer> attnLevels, int textDim) {
        long emb = 4L * ch0;
        long n = linear(ch0, emb) + linear(emb, emb) + linear(textDim, emb) + conv(imageChannels, ch0, 3);
        List<Long> skip = new ArrayList<>(List.of((long) ch0));
        long ch = ch0;
        for (int l = 0; l < mults.size(); l++) {
            long out = (long) ch0 * mults.get(l);
            for (int r = 0; r < resBlocks; r++) {
                n += resBlock(ch, out, emb);
                ch = out;
                if (attnLevels.contains(l)) n += attnBlock(ch, textDim);
                skip.add(ch);
            }
            if (l + 1 < mults.size()) { n += conv(ch, ch, 3); skip.add(ch); }
        }
        n += 2 * resBlock(ch, ch, emb) + attnBlock(ch, textDim);
        for (int l = mults.size() - 1; l >= 0; l--) {
            long out = (long) ch0 * mults.get(l);
            for (int r = 0; r <= resBlocks; r++) {
                n += resBlock(ch + skip.remove(skip.size() - 1), out, emb);
                ch = out;
                if (attnLevels.contains(l)) n += attnBlock(ch, textDim);
            }
            if (l > 0) n += conv(ch, ch, 3);
        }
        return n + 2 * ch + conv(ch, imageChannels, 3);
    }

    private static long linear(long in, long out) { return in * out + out; }
    private static long conv(long in, long out, long k) { return in * out * k * k + out; }
    private static long resBlock(long in, long out, long emb) {
        return 2 * in + conv(in, out, 3) + linear(emb, out) + 2 * out + conv(out, out, 3) + (in == out ? 0 : conv(in, out, 1));
    }
    private static long attnBlock(long ch, long textDim) {
        return 2 * ch + linear(ch, 3 * ch) + linear(ch, ch) + 2 * ch + 2 * textDim + linear(ch, ch) + linear(textDim, 2 * ch) + linear(ch, ch);
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
        // contiguous: a small CPU batch runs channels-last (Layers.Conv2d); callers read x0 in the usual layout
        return convOut.forward(torch.silu(normOut.forward(h))).contiguous();                               // [B,C,H,W]
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
