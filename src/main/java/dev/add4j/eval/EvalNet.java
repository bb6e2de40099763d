package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Layers.Conv2d;
import dev.add4j.nn.Layers.GroupNorm;
import dev.add4j.nn.Layers.Linear;
import dev.add4j.nn.Module;
import dev.add4j.nn.Ops;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The evaluation network: a small CNN for 32x32 grey images in [-1,1], trained on Fashion-MNIST and then frozen.
 * It gives the three things the metrics need:
 * <ul>
 *   <li>{@link #features}: 256-d penultimate features (global average pool of the last conv), for FID, KID and
 *       precision/recall. A CNN rather than a ViT on purpose: the discriminator sees the world through a ViT,
 *       and a metric that shares its feature space would reward fooling that one network.</li>
 *   <li>{@link #logits}: class logits (Fashion-MNIST's 10, a folder's caption classes), for class accuracy of
 *       generated images; a net trained on data without classes has no class head ({@code classes} 0).</li>
 *   <li>{@link #project}: an L2-normalised projection into MiniLM's 384-d pooled text space, trained
 *       contrastively against the frozen text encoder (LiT, Zhai et al. 2022), for a CLIP score.</li>
 * </ul>
 * GroupNorm, not BatchNorm: an image's features must not depend on which other images share its batch,
 * or FID would change with the evaluation batch size.
 *
 * <p>Shapes: x [B,C,S,S] -> features [B,256], logits [B,classes], projection [B,384]; logit scale [] (a scalar).
 * The global pool makes the layers the same at any side S (a multiple of 2^stages); the side the net was trained at
 * is recorded in its file ({@link #IMAGE_SIZE_KEY}) and checked against a model's ({@link Loaded#requireShape}).
 */
public final class EvalNet extends Module {

    /**
     * Architecture.
     * @param imageChannels channels of the input (1 for Fashion-MNIST)
     * @param widths        channels of each stage; every stage ends in a 2x2 max pool
     * @param depths        3x3 conv + GroupNorm + ReLU layers per stage
     * @param featureDim    width of the last conv and of the penultimate features
     * @param projDim       width of the text space (384 for MiniLM)
     * @param classes       number of classes; 0: no class head (data without classes, e.g. free captions)
     */
    public record Config(int imageChannels, List<Integer> widths, List<Integer> depths, int featureDim,
                         int projDim, int classes) {
        public Config {
            if (imageChannels < 1) throw new IllegalArgumentException("EvalNet: imageChannels must be >= 1, got " + imageChannels);
            if (widths.isEmpty() || widths.size() != depths.size())
                throw new IllegalArgumentException("EvalNet: widths " + widths + " and depths " + depths + " must be non-empty and of one length");
            for (int w : widths)
                if (w < 4 || w % 4 != 0) throw new IllegalArgumentException("EvalNet: widths must be positive multiples of 4, got " + widths);
            for (int d : depths) if (d < 1) throw new IllegalArgumentException("EvalNet: depths must be >= 1, got " + depths);
            if (featureDim < 4 || featureDim % 4 != 0)
                throw new IllegalArgumentException("EvalNet: featureDim must be a positive multiple of 4, got " + featureDim);
            if (projDim < 1 || classes == 1 || classes < 0)
                throw new IllegalArgumentException("EvalNet: projDim must be >= 1 and classes 0 (no class head) or >= 2, got " + projDim + ", " + classes);
            // upper limits, checked before allocating (a model file's config is untrusted input); far above the shipped net
            if (widths.size() > 8 || widths.stream().anyMatch(w -> w > 4096) || depths.stream().anyMatch(d -> d > 16)
                    || featureDim > 4096 || projDim > 4096 || classes > 100_000)
                throw new IllegalArgumentException("EvalNet: a field is above its limit (8 stages, widths 4096, depths 16, "
                        + "featureDim 4096, projDim 4096, classes 100000), got widths " + widths + ", depths " + depths
                        + ", featureDim " + featureDim + ", projDim " + projDim + ", classes " + classes);
            widths = List.copyOf(widths);
            depths = List.copyOf(depths);
        }

        /**
         * The network the metrics use: stages 32-64-128 (1, 2, 2 convs) at 32, 16 and 8 px, a 256-wide conv at 4 px;
         * 0.67M parameters, about 33M multiply-adds per image. [choice] One conv at full resolution keeps a CPU
         * step cheap (about 1.2 s at batch 256 on 2 cores); the two-conv stages below it carry the accuracy
         * (0.939 on the Fashion-MNIST test set after the default training; two convs at 32 px too gave 0.941).
         */
        public static Config fmnist() {
            return new Config(1, List.of(32, 64, 128), List.of(1, 2, 2), 256, TextEncoder.DIM, 10);
        }

        /** A tiny network for tests: same structure, a few thousand parameters. */
        public static Config tiny() {
            return new Config(1, List.of(8, 16, 16), List.of(1, 1, 1), 32, TextEncoder.DIM, 10);
        }

        /** This architecture for images of {@code channels} channels and {@code classes} classes (0: none). */
        public Config withData(int channels, int classes) {
            return new Config(channels, widths, depths, featureDim, projDim, classes);
        }

        /** True when the net has a class head. */
        public boolean hasClasses() { return classes > 0; }
    }

    /**
     * The three outputs of one pass. Shapes: features [B,F], logits [B,classes] (null without a class head),
     * projection [B,projDim] (unit rows).
     */
    public record Outputs(Tensor features, Tensor logits, Tensor projection) {}

    /** Metadata key under which {@link #save} writes the config as JSON. */
    public static final String CONFIG_KEY = "evalnet.config";
    /** Metadata key of the side S of the images it was trained on; absent in files written before issue 20 (32 px). */
    public static final String IMAGE_SIZE_KEY = "evalnet.image_size";
    /** Metadata key of its class names (JSON list, index = class); absent: Fashion-MNIST's ten. */
    public static final String CLASS_NAMES_KEY = "evalnet.class_names";
    /** CLIP's initial temperature 0.07, as log(1/T). */
    static final double INIT_LOG_SCALE = Math.log(1 / 0.07);
    /** CLIP clamps the logit scale at 100 so training cannot make the softmax arbitrarily sharp. */
    static final double MAX_LOG_SCALE = Math.log(100);

    private final Config cfg;
    private final List<Conv2d> convs = new ArrayList<>();
    private final List<GroupNorm> norms = new ArrayList<>();
    private final List<Integer> poolAfter = new ArrayList<>(); // index of the conv after which a stage ends
    private final Linear classHead, projHead;
    private final Tensor logScale;

    public EvalNet(Config cfg) {
        this.cfg = cfg;
        int in = cfg.imageChannels();
        for (int s = 0; s < cfg.widths().size(); s++) {
            int w = cfg.widths().get(s);
            for (int d = 0; d < cfg.depths().get(s); d++) {
                addConv(in, w);
                in = w;
            }
            poolAfter.add(convs.size() - 1);
        }
        addConv(in, cfg.featureDim());
        classHead = cfg.hasClasses() ? child("class_head", new Linear(cfg.featureDim(), cfg.classes())) : null;
        projHead = child("proj_head", new Linear(cfg.featureDim(), cfg.projDim()));
        logScale = param("logit_scale", torch.full(new long[]{}, Ops.s(INIT_LOG_SCALE)));
    }

    private void addConv(int in, int out) {
        int i = convs.size();
        convs.add(child("conv." + i, new Conv2d(in, out, 3, 1, 1)));
        norms.add(child("norm." + i, new GroupNorm(Math.min(8, out / 4), out)));
    }

    public Config config() { return cfg; }

    /** Penultimate features. x [B,C,H,W] with H, W divisible by 2^stages -> [B,featureDim]. */
    public Tensor features(Tensor x) {
        Ops.expectShape(x, "x", -1, cfg.imageChannels(), -1, -1);
        Tensor h = x;
        for (int i = 0; i < convs.size(); i++) {
            h = torch.relu(norms.get(i).forward(convs.get(i).forward(h)));                      // [B,w,H',W']
            if (poolAfter.contains(i))
                h = torch.max_pool2d(h, new long[]{2, 2}, new long[]{2, 2}, new long[]{0, 0}, new long[]{1, 1}, false);
        }
        return h.mean(new long[]{2, 3}, false, new ScalarTypeOptional());                        // [B,F]
    }

    /** Class logits from features, null without a class head. [B,F] -> [B,classes] */
    public Tensor classLogits(Tensor features) { return classHead == null ? null : classHead.forward(features); }

    /** Unit-length text-space embedding from features. [B,F] -> [B,projDim] */
    public Tensor projectFeatures(Tensor features) { return torch.normalize(projHead.forward(features)); }

    /** Class logits of images. [B,C,H,W] -> [B,classes] */
    public Tensor logits(Tensor x) { return classLogits(features(x)); }

    /** Unit-length text-space embeddings of images. [B,C,H,W] -> [B,projDim] */
    public Tensor project(Tensor x) { return projectFeatures(features(x)); }

    /** Features, logits and projection from one pass. */
    public Outputs forward(Tensor x) {
        Tensor f = features(x);
        return new Outputs(f, classLogits(f), projectFeatures(f));
    }

    /** The learned inverse temperature exp(min(s, ln 100)) of the contrastive loss. [] */
    public Tensor logitScale() { return logScale.clamp_max(Ops.s(MAX_LOG_SCALE)).exp(); }

    /**
     * Runs the frozen network over many images in batches of {@code batch}, without gradients; every batch's
     * intermediates are freed as it finishes. The results are new float32 tensors on {@code images}' device,
     * owned by the caller's scope.
     * @param images [N,C,H,W] on any device (moved batch by batch to the network's device)
     */
    public Outputs evaluate(Tensor images, int batch) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        Ops.expectShape(images, "images", -1, cfg.imageChannels(), -1, -1);
        long n = images.size(0);
        Device dev = device();
        var opts = Ops.floatOn(images.device());
        var format = new MemoryFormatOptional();
        Tensor feats = torch.empty(new long[]{n, cfg.featureDim()}, opts, format);                  // [N,F]
        Tensor logits = cfg.hasClasses() ? torch.empty(new long[]{n, cfg.classes()}, opts, format) : null; // [N,classes]
        Tensor proj = torch.empty(new long[]{n, cfg.projDim()}, opts, format);                      // [N,projDim]
        try (var g = new NoGradGuard()) {
            for (long i = 0; i < n; i += batch) {
                long b = Math.min(batch, n - i);
                try (var scope = new PointerScope()) {
                    Outputs o = forward(images.narrow(0, i, b).to(dev, torch.ScalarType.Float));
                    feats.narrow(0, i, b).copy_(o.features());      // written into tensors made outside the scope
                    if (logits != null) logits.narrow(0, i, b).copy_(o.logits());
                    proj.narrow(0, i, b).copy_(o.projection());
                }
            }
        }
        return new Outputs(feats, logits, proj);
    }

    /** The device the parameters live on. */
    public Device device() { return logScale.device(); }

    /**
     * Writes the weights (float16) and the config, plus {@code metadata}, to a safetensors file, atomically.
     * @param metadata extra string pairs (training command, accuracy); may be empty
     */
    public void save(Path file, Map<String, String> metadata) {
        var meta = new java.util.LinkedHashMap<String, String>();
        meta.put(CONFIG_KEY, Json.write(cfg));
        meta.putAll(metadata);
        SafeTensors.write(file, namedParameters(), meta, SafeTensors.Dtype.F16);
    }

    /**
     * A trained network with its file's metadata.
     * @param file where it was loaded from, for messages
     */
    public record Loaded(EvalNet net, Map<String, String> metadata, Path file) {
        /** Side of the images it was trained on: its file's {@link #IMAGE_SIZE_KEY}, 32 where absent. */
        public int imageSize() {
            String v = metadata.get(IMAGE_SIZE_KEY);
            if (v == null) return 32;
            if (!v.matches("[0-9]{1,4}")) throw new Add4jException(file + ": metadata " + IMAGE_SIZE_KEY + ": expected a side in pixels like 32, got '" + v + "'");
            return Integer.parseInt(v);
        }

        /** Channels of the images it reads. */
        public int channels() { return net.config().imageChannels(); }

        /** Its class names, index = class: the file's {@link #CLASS_NAMES_KEY}, else Fashion-MNIST's (none without a class head). */
        public List<String> classNames() {
            if (!net.config().hasClasses()) return List.of();
            String v = metadata.get(CLASS_NAMES_KEY);
            if (v == null) return dev.add4j.data.Captions.CLASS_NAMES;
            List<String> names = List.of(Json.readStrict(v, file + ": metadata " + CLASS_NAMES_KEY, String[].class));
            if (names.size() != net.config().classes())
                throw new Add4jException(file + ": metadata " + CLASS_NAMES_KEY + " names " + names.size() + " classes but the net has " + net.config().classes());
            return names;
        }

        /**
         * Refuses images of another shape than the net's, in one line.
         * @param what the model or data, as the user named it ("--model runs/t/teacher.safetensors")
         */
        public void requireShape(int channels, int size, String what) {
            if (channels != channels() || size != imageSize())
                throw new Add4jException(what + " is " + channels + " x " + size + " px but --eval-net " + file + " was trained on "
                        + channels() + " x " + imageSize() + " px images: channels and image size must agree");
        }
    }

    /**
     * Loads a network written by {@link #save}, frozen (no gradients, eval mode), on {@code device}.
     * @throws Add4jException when the file is missing, is not an EvalNet file, or its weights do not fit its config
     */
    public static Loaded load(Path file, Device device) {
        try (var scope = new PointerScope()) { // the file's tensors are copied into the parameters, then freed
            SafeTensors.Contents c = SafeTensors.read(file);
            String json = c.metadata().get(CONFIG_KEY);
            if (json == null)
                throw new Add4jException(file + ": not an EvalNet file (no '" + CONFIG_KEY + "' in its metadata); "
                        + "make one with: add4j train-eval-net");
            EvalNet net = new EvalNet(Json.readStrict(json, file + ": metadata " + CONFIG_KEY, Config.class));
            SafeTensors.requireFinite(file, c.tensors());
            net.load(c.tensors(), file.toString());
            net.to(device);
            net.requiresGrad(false).train(false);
            return new Loaded(net, Map.copyOf(c.metadata()), file);
        }
    }
}
