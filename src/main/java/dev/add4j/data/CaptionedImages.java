package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.TextCond;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import dev.add4j.text.PromptEmbeddings;
import dev.add4j.text.TextEncoder;

import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;

import static dev.add4j.nn.Ops.s;

/**
 * A training set of images with free-text captions, held on the training device: every image tensor and every
 * caption's MiniLM embedding are made once, so a batch is two index_select calls (no host work per step).
 * Each image has its candidate captions (Fashion-MNIST: every caption of its class; a captioned folder: the image's
 * own rows). The caption table's last row is the empty prompt, the unconditional input for classifier-free guidance.
 */
public final class CaptionedImages implements AutoCloseable {
    /** One batch: images x0 [B,C,S,S], their captions' condition, and class labels [B] (int64; null without classes). */
    public record Batch(Tensor x0, TextCond cond, Tensor labels) {
        /** This rank's rows of the batch (all of it in a job of one). */
        public Batch rows(Shard shard) {
            if (shard.ranks() == 1) return this;
            return new Batch(shard.rows(x0), new TextCond(shard.rows(cond.tokens()), shard.rows(cond.mask()), shard.rows(cond.pooled())),
                    labels == null ? null : shard.rows(labels));
        }
    }

    private final Tensor images;            // [N,C,S,S] on device
    private final int[] labels;             // null: no classes (a captioned folder)
    private final TextCond captions;        // [K+1,...] on device; row K is ""
    private final int[][] captionsOfImage;  // image -> rows of the caption table it may be drawn with
    private final int[][] imagesOfClass;    // class -> indices of its images; null without classes
    private final int emptyRow;
    private final Device device;
    private final String name;

    /**
     * Fashion-MNIST: each image is drawn with a caption of its class ({@link Captions}).
     * @param captionCache where the captions' MiniLM embeddings are cached (null: compute, don't cache)
     */
    public CaptionedImages(FashionMnist.Split split, Path captionCache, Device device) {
        this(() -> FashionMnist.images(split), Captions.allCaptions(), fashionCaptionRows(split), split.labels().clone(),
                all -> PromptEmbeddings.loadOrCompute(captionCache, all), device, "Fashion-MNIST");
    }

    /**
     * A split of a captioned folder: each image is drawn with one of its own captions; there are no classes.
     * @param captionCache the embeddings' cache, refused when made for other captions; null: the folder's own
     *                     ({@link ImageFolder.Split#captionCache()}), recomputed when the captions change
     */
    public CaptionedImages(ImageFolder.Split split, Path captionCache, Device device) {
        this(() -> split.images().to(torch.ScalarType.Float).div(s(127.5)).sub(s(1.0)),               // [N,C,S,S] in [-1,1]
                folderCaptions(split), folderCaptionRows(split), null,
                all -> captionCache != null ? PromptEmbeddings.loadOrCompute(captionCache, all) : ownEmbeddings(split.captionCache(), all),
                device, split.describe());
    }

    private CaptionedImages(Supplier<Tensor> hostImages, List<String> captionList, int[][] captionsOfImage, int[] labels,
                            Function<List<String>, TextEncoder.Embedding> embed, Device device, String name) {
        this.device = device;
        this.name = name;
        List<String> all = new ArrayList<>(captionList);
        all.add("");
        try (var scope = new PointerScope()) { // temporaries die here; the kept tensors are retained
            TextEncoder.Embedding e = embed.apply(all);
            images = hostImages.get().to(device, torch.ScalarType.Float).retainReference();
            TextCond c = new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
            captions = new TextCond(c.tokens().retainReference(), c.mask().retainReference(), c.pooled().retainReference());
        }
        this.labels = labels;
        this.captionsOfImage = captionsOfImage;
        emptyRow = all.size() - 1;
        if (labels == null) {
            imagesOfClass = null;
        } else {
            imagesOfClass = new int[FashionMnist.CLASSES][];
            for (int c = 0; c < FashionMnist.CLASSES; c++) {
                final int cls = c;
                imagesOfClass[c] = java.util.stream.IntStream.range(0, labels.length).filter(i -> labels[i] == cls).toArray();
            }
        }
    }

    /** Fashion-MNIST's caption rows of each image: those of its class, one shared array per class. */
    private static int[][] fashionCaptionRows(FashionMnist.Split split) {
        int[][] ofClass = new int[FashionMnist.CLASSES][];
        for (int c = 0; c < FashionMnist.CLASSES; c++) {
            List<Integer> rows = new ArrayList<>();
            for (int k = 0; k < Captions.allCaptions().size(); k++) if (Captions.classOf(k) == c) rows.add(k);
            ofClass[c] = rows.stream().mapToInt(Integer::intValue).toArray();
        }
        int[][] out = new int[split.n()][];
        for (int i = 0; i < out.length; i++) out[i] = ofClass[split.labels()[i]];
        return out;
    }

    /** A folder split's distinct captions, in order of first use. */
    private static List<String> folderCaptions(ImageFolder.Split split) {
        return split.captions().stream().flatMap(List::stream).distinct().toList();
    }

    private static int[][] folderCaptionRows(ImageFolder.Split split) {
        Map<String, Integer> row = new HashMap<>();
        for (String c : folderCaptions(split)) row.put(c, row.size());
        return split.captions().stream().map(cs -> cs.stream().mapToInt(row::get).toArray()).toArray(int[][]::new);
    }

    /**
     * Embeddings kept in the folder's own cache, which, unlike a {@code --caption-cache} the user names, is derived
     * data like the image cache: recomputed and rewritten when the captions changed.
     */
    private static TextEncoder.Embedding ownEmbeddings(Path cache, List<String> prompts) {
        if (Files.isRegularFile(cache)) {
            try {
                PromptEmbeddings.Saved saved = PromptEmbeddings.loadAny(cache);
                if (saved.prompts().equals(prompts)) return saved.embedding();
            } catch (Add4jException e) {
                // a damaged cache of ours: computed again below
            }
        }
        try (TextEncoder text = new TextEncoder()) {
            TextEncoder.Embedding e = text.encode(prompts);
            try {
                PromptEmbeddings.save(cache, prompts, e);
            } catch (Add4jException ex) {
                System.err.println("note: " + ex.getMessage() + "; the caption embeddings are not cached");
            }
            return e;
        }
    }

    public int size() { return captionsOfImage.length; }
    /** Channels C of the images. */
    public int channels() { return (int) images.size(1); }
    /** Side S of the images. */
    public int imageSize() { return (int) images.size(2); }
    /** True when the images have class labels (Fashion-MNIST), so class groups and class metrics exist. */
    public boolean hasClasses() { return labels != null; }
    /** What the images are: "Fashion-MNIST", or a captioned folder and its split. */
    public String name() { return name; }

    /** The empty prompt's condition, one sample [1,...]: the unconditional input of classifier-free guidance. */
    public TextCond empty() {
        return captions.select(Ops.fromLongs(new long[]{emptyRow}, 1).to(device, torch.ScalarType.Long));
    }
    public Device device() { return device; }

    /**
     * A batch that depends only on ({@code seed}, {@code step}), so a resumed run sees the batches an uninterrupted
     * one would. Each image gets one of its captions at random; with probability {@code dropCaption} the empty one.
     */
    public Batch batch(long seed, long step, int size, double dropCaption) {
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + step);
        long[] idx = new long[size], rows = new long[size], labs = new long[size];
        for (int i = 0; i < size; i++) {
            int k = rng.nextInt(captionsOfImage.length);
            idx[i] = k;
            labs[i] = labels == null ? -1 : labels[k];
            int[] cands = captionsOfImage[k];
            rows[i] = rng.nextDouble() < dropCaption ? emptyRow : cands[rng.nextInt(cands.length)];
        }
        return select(idx, rows, labs);
    }

    /**
     * Like {@link #batch} without caption dropout, but made of groups of {@code group} consecutive images of one
     * class each (the class drawn per group; a class with no images is drawn again). Depends only on (seed, step).
     */
    public Batch classGroupedBatch(long seed, long step, int size, int group) {
        if (group < 1 || size % group != 0) throw new IllegalArgumentException("batch " + size + " is not a multiple of group " + group);
        if (labels == null)
            throw new Add4jException(name + " has no classes, so no batch of class groups (--class-groups needs Fashion-MNIST)");
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + step);
        long[] idx = new long[size], rows = new long[size], labs = new long[size];
        for (int g = 0; g < size; g += group) {
            int cls;
            do cls = rng.nextInt(FashionMnist.CLASSES); while (imagesOfClass[cls].length == 0);
            for (int i = g; i < g + group; i++) {
                int k = imagesOfClass[cls][rng.nextInt(imagesOfClass[cls].length)];
                idx[i] = k;
                labs[i] = cls;
                int[] cands = captionsOfImage[k];
                rows[i] = cands[rng.nextInt(cands.length)];
            }
        }
        return select(idx, rows, labs);
    }

    private Batch select(long[] idx, long[] rows, long[] labs) {
        int size = idx.length;
        Tensor x0 = torch.index_select(images, 0, Ops.fromLongs(idx, size).to(device, torch.ScalarType.Long));
        TextCond c = captions.select(Ops.fromLongs(rows, size).to(device, torch.ScalarType.Long));
        return new Batch(x0, c, labels == null ? null : Ops.fromLongs(labs, size).to(device, torch.ScalarType.Long));
    }

    @Override public void close() {
        images.releaseReference();
        captions.tokens().releaseReference();
        captions.mask().releaseReference();
        captions.pooled().releaseReference();
    }
}
