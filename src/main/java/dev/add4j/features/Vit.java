package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Layers.Conv2d;
import dev.add4j.nn.Layers.LayerNorm;
import dev.add4j.nn.Layers.Linear;
import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small Vision Transformer (Dosovitskiy et al. 2021), the frozen feature network F of the ADD discriminator
 * (add-method.md §5): a stand-in for DINOv2 ViT-S, pretrained here with DINO ({@link DinoPretrainStep}) or
 * with labels ({@link SupervisedPretrainStep}).
 *
 * <p>Layout: non-overlapping patches embedded by a strided convolution, a learned CLS token, a learned position
 * embedding, {@code depth} pre-norm blocks (LayerNorm, multi-head self-attention, LayerNorm, GELU MLP), a final
 * LayerNorm. There is no dropout or other mode-dependent layer, so {@link #train(boolean)} changes nothing: the
 * network computes the same function frozen or not.
 *
 * <p>Shapes: x [B,channels,S,S] in [-1,1] with S = {@code imageSize} (or any multiple of the patch size: the
 * position embedding is then interpolated, used by DINO's small local views); tokens [B,1+N,C] with N = (S/p)²
 * patch tokens after the CLS token; {@link #cls} [B,C].
 *
 * <p>Taps: tap {@code t} (0 ≤ t ≤ depth) is the token sequence after {@code t} blocks; tap 0 is the patch
 * embedding plus position embedding. The paper's "blocks 2, 5, 8, 11" of a 12-block ViT-S (0-based hook indices
 * in StyleGAN-T) are taps 3, 6, 9, 12 here.
 */
public final class Vit extends Module {

    /**
     * Architecture of a ViT.
     * @param imageSize square input side the position embedding is learned for
     * @param channels  image channels (1 for Fashion-MNIST)
     * @param patchSize side of a patch; must divide {@code imageSize}
     * @param width     token width C; must be a multiple of {@code heads}
     * @param depth     number of transformer blocks
     * @param heads     attention heads
     * @param mlpRatio  hidden width of the MLP as a multiple of C
     * @param stem      how pixels become tokens: "patch", one strided convolution per patch (ViT), or "conv", log2(p)
     *                  3x3 stride-2 convolutions with GELU and a 1x1 one (Xiao et al. 2021, "Early convolutions help
     *                  transformers see better": faster, steadier training); null in older files means "patch"
     */
    public record Config(int imageSize, int channels, int patchSize, int width, int depth, int heads, int mlpRatio, String stem) {
        /** A ViT with the plain patch stem. */
        public Config(int imageSize, int channels, int patchSize, int width, int depth, int heads, int mlpRatio) {
            this(imageSize, channels, patchSize, width, depth, heads, mlpRatio, PATCH_STEM);
        }

        public Config {
            if (stem == null) stem = PATCH_STEM;
            if (!stem.equals(PATCH_STEM) && !stem.equals(CONV_STEM))
                throw new IllegalArgumentException("Vit: stem must be '" + PATCH_STEM + "' or '" + CONV_STEM + "', got '" + stem + "'");
            if (stem.equals(CONV_STEM) && Integer.bitCount(patchSize) != 1)
                throw new IllegalArgumentException("Vit: the conv stem needs a power-of-two patch size, got " + patchSize);
            if (imageSize < 1 || channels < 1)
                throw new IllegalArgumentException("Vit: imageSize and channels must be positive, got " + imageSize + " and " + channels);
            if (patchSize < 1 || imageSize % patchSize != 0)
                throw new IllegalArgumentException("Vit: patchSize must divide imageSize " + imageSize + ", got " + patchSize);
            if (heads < 1 || width < 1 || width % heads != 0)
                throw new IllegalArgumentException("Vit: width must be a positive multiple of heads " + heads + ", got " + width);
            if (depth < 1) throw new IllegalArgumentException("Vit: depth must be >= 1, got " + depth);
            if (mlpRatio < 1) throw new IllegalArgumentException("Vit: mlpRatio must be >= 1, got " + mlpRatio);
            // upper limits, checked before allocating (a model file's config is untrusted input); far above the shipped 32/64/4
            if (imageSize > 1024 || channels > 64 || width > 4096 || depth > 64 || heads > 64 || mlpRatio > 16)
                throw new IllegalArgumentException("Vit: a field is above its limit (imageSize 1024, channels 64, width 4096, "
                        + "depth 64, heads 64, mlpRatio 16), got " + List.of(imageSize, channels, patchSize, width, depth, heads, mlpRatio));
        }

        /**
         * For 32 px Fashion-MNIST: ViT-S's depth (12) and head width (64), at half its width (192 vs 384),
         * patch 4 (8x8 = 64 patch tokens). 5.4M parameters. [choice] ViT-S-like, cheap enough for 2 CPU cores.
         */
        public static Config fmnist() { return new Config(32, 1, 4, 192, 12, 3, 4); }

        /** The same network for images of {@code channels} channels and {@code size} px (the patch size must divide it). */
        public Config withImage(int channels, int size) { return new Config(size, channels, patchSize, width, depth, heads, mlpRatio, stem); }

        /** The same network with the other stem. */
        public Config withStem(String s) { return new Config(imageSize, channels, patchSize, width, depth, heads, mlpRatio, s); }

        /** A 4-block, 64-wide network for smoke runs on a CPU (0.2M parameters). */
        public static Config small() { return new Config(32, 1, 4, 64, 4, 2, 4); }

        /** A tiny network for tests: patch 8 (4x4 = 16 patch tokens), 4 blocks of width 32. */
        public static Config tiny() { return new Config(32, 1, 8, 32, 4, 2, 2); }

        /** Patches per side at the native input size. */
        public int gridSide() { return imageSize / patchSize; }
    }

    private final Config cfg;
    /** The stems' names in {@link Config#stem}. */
    public static final String PATCH_STEM = "patch", CONV_STEM = "conv";

    private final Conv2d patchEmbed;                 // the patch stem, or the conv stem's final 1x1 convolution
    private final List<Conv2d> stemConvs = new ArrayList<>(); // the conv stem's 3x3 stride-2 convolutions
    private final Tensor clsToken, posEmbed;
    private final List<Block> blocks = new ArrayList<>();
    private final LayerNorm norm;

    /** A freshly initialised network (ViT's init: N(0, 0.02) for linear weights, tokens and positions; zero biases). */
    public Vit(Config cfg) {
        this.cfg = cfg;
        long c = cfg.width(), n = (long) cfg.gridSide() * cfg.gridSide();
        if (cfg.stem().equals(CONV_STEM)) {
            int halvings = Integer.numberOfTrailingZeros(cfg.patchSize());
            long in = cfg.channels();
            for (int i = 0; i < halvings; i++) {
                long out = Math.max(8, c >> (halvings - 1 - i));                                 // ..., C/2, C
                stemConvs.add(child("stem." + i, new Conv2d(in, out, 3, 2, 1)));
                in = out;
            }
            patchEmbed = child("patch_embed", new Conv2d(in, c, 1, 1, 0));
        } else {
            patchEmbed = child("patch_embed", new Conv2d(cfg.channels(), c, cfg.patchSize(), cfg.patchSize(), 0));
        }
        clsToken = param("cls_token", torch.randn(1, 1, c).mul(Ops.s(0.02)));                    // [1,1,C]
        posEmbed = param("pos_embed", torch.randn(1, 1 + n, c).mul(Ops.s(0.02)));                // [1,1+N,C]
        for (int i = 0; i < cfg.depth(); i++)
            blocks.add(child("blocks." + i, new Block(c, cfg.heads(), (long) cfg.mlpRatio() * c)));
        norm = child("norm", new LayerNorm(c));
        try (var g = new NoGradGuard()) {
            for (var e : namedParameters().entrySet()) {
                Tensor p = e.getValue();
                if (!e.getKey().startsWith("blocks.")) continue;
                if (e.getKey().endsWith(".bias")) torch.zero_(p.detach());
                else if (p.dim() == 2) p.detach().copy_(torch.randn(Ops.shape(p)).mul(Ops.s(0.02)));
            }
        }
    }

    /** The architecture. */
    public Config config() { return cfg; }

    /**
     * Forces the written-out attention (matmul-softmax-matmul) on every device; on the CPU it is always used (see
     * {@link dev.add4j.nn.Attention}). Needed on the GPU only for a loss that differentiates twice through this
     * network (a gradient penalty on pixels): the fused kernels have no double backward.
     * ADD's R1 differentiates twice only through the discriminator heads and does not need it.
     * @return this network
     */
    public Vit mathAttention(boolean on) {
        for (Block b : blocks) b.mathAttention = on;
        return this;
    }

    /** Token width C. */
    public int width() { return cfg.width(); }

    /**
     * The feature taps the discriminator uses: tap 0 (patch embedding) and four evenly spaced taps ending at
     * the last block, {@code round(depth·i/4)} for i = 1..4 (for depth 12: [0, 3, 6, 9, 12], the paper's
     * blocks 2, 5, 8, 11). Duplicates, possible when depth &lt; 4, are dropped.
     */
    public List<Integer> defaultTaps() {
        List<Integer> taps = new ArrayList<>(List.of(0));
        for (int i = 1; i <= 4; i++) {
            int t = Math.max(1, (int) Math.round(cfg.depth() * i / 4.0));
            if (!taps.contains(t)) taps.add(t);
        }
        return List.copyOf(taps);
    }

    /**
     * Token sequences at the given taps, in the order asked. Only the blocks up to the largest tap are run.
     * Gradients flow to {@code x} whether or not the parameters require grad.
     * @param x    images [B,channels,S,S] in [-1,1]
     * @param taps tap indices in 0..depth (see the class comment)
     * @return one [B,1+N,C] tensor per tap, CLS token first
     */
    public List<Tensor> features(Tensor x, List<Integer> taps) {
        if (taps.isEmpty()) throw new IllegalArgumentException("taps: empty");
        int last = 0;
        for (int t : taps) {
            if (t < 0 || t > cfg.depth())
                throw new IllegalArgumentException("taps: " + t + " outside 0.." + cfg.depth() + " (depth " + cfg.depth() + ")");
            last = Math.max(last, t);
        }
        Tensor[] at = new Tensor[last + 1];
        Tensor h = embed(x);                                                                       // [B,1+N,C]
        at[0] = h;
        for (int i = 0; i < last; i++) at[i + 1] = h = blocks.get(i).forward(h);
        List<Tensor> out = new ArrayList<>(taps.size());
        for (int t : taps) out.add(at[t]);
        return out;
    }

    /** The final, layer-normalised token sequence [B,1+N,C]. */
    public Tensor tokens(Tensor x) {
        Tensor h = embed(x);                                                                       // [B,1+N,C]
        for (Block b : blocks) h = b.forward(h);
        return norm.forward(h);
    }

    /**
     * The final token sequence [B,1+N,C] of images whose masked patches were replaced by {@code maskToken} before the
     * position embedding: iBOT's masked image modelling input (Zhou et al. 2022, §3.2).
     * @param mask      [B,N] bool, true where a patch is hidden
     * @param maskToken [1,1,C] the learned embedding put in a hidden patch's place
     */
    public Tensor tokens(Tensor x, Tensor mask, Tensor maskToken) {
        Tensor h = embed(x, mask, maskToken);                                                      // [B,1+N,C]
        for (Block b : blocks) h = b.forward(h);
        return norm.forward(h);
    }

    /** The final normalised CLS embedding [B,C]: the image embedding c_img of the discriminator (add-method.md §2). */
    public Tensor cls(Tensor x) {
        return tokens(x).select(1, 0);                                                             // [B,C]
    }

    /** Patch embedding + CLS token + position embedding. x [B,ch,S,S] -> [B,1+(S/p)²,C]. */
    private Tensor embed(Tensor x) { return embed(x, null, null); }

    /** As {@link #embed(Tensor)}, with the patches where {@code mask} [B,N] is true replaced by {@code maskToken} [1,1,C]. */
    private Tensor embed(Tensor x, Tensor mask, Tensor maskToken) {
        long[] s = Ops.shape(x);
        if (s.length != 4 || s[1] != cfg.channels() || s[2] != s[3] || s[2] % cfg.patchSize() != 0)
            throw new IllegalArgumentException("x: expected [B," + cfg.channels() + ",S,S] with S a multiple of "
                    + cfg.patchSize() + ", got " + java.util.Arrays.toString(s).replace(" ", ""));
        long b = s[0], c = cfg.width();
        Tensor h = x;
        for (Conv2d conv : stemConvs) h = torch.gelu(conv.forward(h));                             // [B,c_i,S/2^i,S/2^i]
        Tensor patches = patchEmbed.forward(h).flatten(2, 3).transpose(1, 2);                      // [B,N,C]
        if (mask != null) patches = torch.where(mask.unsqueeze(-1), maskToken.to(patches.scalar_type()), patches);
        Tensor cls = clsToken.expand(b, 1, c);                                                     // [B,1,C]
        return torch.cat(new TensorVector(cls, patches), 1).add(positions(s[2] / cfg.patchSize())); // [B,1+N,C]
    }

    /** The position embedding for a grid of {@code side}² patches, bilinearly resized when side differs from training. */
    private Tensor positions(long side) {
        int g = cfg.gridSide();
        if (side == g) return posEmbed;                                                            // [1,1+N,C]
        long c = cfg.width();
        Tensor grid = posEmbed.narrow(1, 1, (long) g * g).reshape(1, g, g, c).permute(0, 3, 1, 2); // [1,C,g,g]
        Tensor resized = torch.upsample_bilinear2d(grid, new long[]{side, side}, false)            // [1,C,side,side]
                .permute(0, 2, 3, 1).reshape(1, side * side, c);                                   // [1,side²,C]
        return torch.cat(new TensorVector(posEmbed.narrow(1, 0, 1), resized), 1);                  // [1,1+side²,C]
    }

    /**
     * Writes this network's weights (float16) and its config to a safetensors file, atomically.
     * @param metadata extra string metadata (objective, steps, accuracy, command); may be empty
     */
    public void save(Path file, Map<String, String> metadata) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(FORMAT_KEY, FORMAT);
        meta.put(CONFIG_KEY, Json.write(cfg));
        meta.putAll(metadata);
        SafeTensors.write(file, namedParameters(), meta, SafeTensors.Dtype.F16);
    }

    /**
     * Reads a network written by {@link #save}, on the CPU, frozen: parameters do not require grad (move it with
     * {@link #to}). The file's metadata is available through {@link SafeTensors#read} if needed.
     * @throws Add4jException naming the file when it is not a ViT written by add4j or its weights do not match
     */
    public static Vit load(Path file) {
        try (var scope = new PointerScope()) { // frees the file's copies; parameters are retained by the module
            SafeTensors.Contents contents = SafeTensors.read(file);
            String format = contents.metadata().get(FORMAT_KEY);
            String json = contents.metadata().get(CONFIG_KEY);
            if (!FORMAT.equals(format) || json == null)
                throw new Add4jException(file + ": not a feature network written by add4j train-features (metadata "
                        + FORMAT_KEY + " = " + format + ", expected " + FORMAT + ")");
            Vit vit = new Vit(Json.readStrictOptional(json, file + ": metadata " + CONFIG_KEY, Config.class));
            SafeTensors.requireFinite(file, contents.tensors());
            vit.load(contents.tensors(), file.toString());
            vit.requiresGrad(false);
            vit.train(false);
            return vit;
        }
    }

    /** Metadata key and value that mark a file as an add4j ViT. */
    public static final String FORMAT_KEY = "format", FORMAT = "add4j.features.Vit";
    /** Metadata key of the architecture JSON. */
    public static final String CONFIG_KEY = "vit_config";

    /** One pre-norm transformer block. Shapes: x [B,T,C] -> [B,T,C]. */
    static final class Block extends Module {
        final LayerNorm norm1, norm2;
        final Linear qkv, proj, fc1, fc2;
        final long heads;
        boolean mathAttention;

        Block(long c, long heads, long hidden) {
            this.heads = heads;
            norm1 = child("norm1", new LayerNorm(c));
            qkv = child("attn.qkv", new Linear(c, 3 * c));
            proj = child("attn.proj", new Linear(c, c));
            norm2 = child("norm2", new LayerNorm(c));
            fc1 = child("mlp.fc1", new Linear(c, hidden));
            fc2 = child("mlp.fc2", new Linear(hidden, c));
        }

        Tensor forward(Tensor x) {
            long b = x.size(0), t = x.size(1), c = x.size(2), d = c / heads;
            Tensor qkvh = qkv.forward(norm1.forward(x)).reshape(b, t, 3, heads, d).permute(2, 0, 3, 1, 4); // [3,B,h,T,d]
            Tensor q = qkvh.select(0, 0), k = qkvh.select(0, 1), v = qkvh.select(0, 2);                      // [B,h,T,d]
            Tensor a = dev.add4j.nn.Attention.scaledDotProduct(q, k, v, null, mathAttention);            // [B,h,T,d]
            x = x.add(proj.forward(a.transpose(1, 2).reshape(b, t, c)));                                       // [B,T,C]
            return x.add(fc2.forward(torch.gelu(fc1.forward(norm2.forward(x)))));                              // [B,T,C]
        }
    }
}
