package dev.add4j.data;

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

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A training set of images with free-text captions, held on the training device: every image tensor and every
 * caption's MiniLM embedding are made once, so a batch is two index_select calls (no host work per step).
 * The caption table's last row is the empty prompt, the unconditional input for classifier-free guidance.
 */
public final class CaptionedImages implements AutoCloseable {
    /** One batch: images x0 [B,1,32,32], their captions' condition, and class labels [B] (int64). */
    public record Batch(Tensor x0, TextCond cond, Tensor labels) {
        /** This rank's rows of the batch (all of it in a job of one). */
        public Batch rows(Shard shard) {
            if (shard.ranks() == 1) return this;
            return new Batch(shard.rows(x0), new TextCond(shard.rows(cond.tokens()), shard.rows(cond.mask()), shard.rows(cond.pooled())),
                    shard.rows(labels));
        }
    }

    private final Tensor images;            // [N,1,32,32] on device
    private final int[] labels;
    private final TextCond captions;        // [K+1,...] on device; row K is ""
    private final int[][] captionsOfClass;  // class -> rows of the caption table
    private final int[][] imagesOfClass;    // class -> indices of its images
    private final int emptyRow;
    private final Device device;

    /**
     * @param captionCache where the captions' MiniLM embeddings are cached (null: compute, don't cache)
     */
    public CaptionedImages(FashionMnist.Split split, Path captionCache, Device device) {
        this.device = device;
        List<String> all = new ArrayList<>(Captions.allCaptions());
        all.add("");
        try (var scope = new PointerScope()) { // temporaries die here; the kept tensors are retained
            TextEncoder.Embedding e = PromptEmbeddings.loadOrCompute(captionCache, all);
            images = FashionMnist.images(split).to(device, torch.ScalarType.Float).retainReference();
            TextCond c = new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
            captions = new TextCond(c.tokens().retainReference(), c.mask().retainReference(), c.pooled().retainReference());
        }
        labels = split.labels().clone();
        emptyRow = all.size() - 1;
        captionsOfClass = new int[FashionMnist.CLASSES][];
        for (int c = 0; c < FashionMnist.CLASSES; c++) {
            List<Integer> rows = new ArrayList<>();
            for (int k = 0; k < emptyRow; k++) if (Captions.classOf(k) == c) rows.add(k);
            captionsOfClass[c] = rows.stream().mapToInt(Integer::intValue).toArray();
        }
        imagesOfClass = new int[FashionMnist.CLASSES][];
        for (int c = 0; c < FashionMnist.CLASSES; c++) {
            final int cls = c;
            imagesOfClass[c] = java.util.stream.IntStream.range(0, labels.length).filter(i -> labels[i] == cls).toArray();
        }
    }

    public int size() { return labels.length; }

    /** The empty prompt's condition, one sample [1,...]: the unconditional input of classifier-free guidance. */
    public TextCond empty() {
        return captions.select(Ops.fromLongs(new long[]{emptyRow}, 1).to(device, torch.ScalarType.Long));
    }
    public Device device() { return device; }

    /**
     * A batch that depends only on ({@code seed}, {@code step}), so a resumed run sees the batches an uninterrupted
     * one would. Each image gets a random caption of its class; with probability {@code dropCaption} the empty one.
     */
    public Batch batch(long seed, long step, int size, double dropCaption) {
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + step);
        long[] idx = new long[size], rows = new long[size], labs = new long[size];
        for (int i = 0; i < size; i++) {
            int k = rng.nextInt(labels.length);
            idx[i] = k;
            labs[i] = labels[k];
            int[] cands = captionsOfClass[labels[k]];
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
        Random rng = new Random(seed * 0x9E3779B97F4A7C15L + step);
        long[] idx = new long[size], rows = new long[size], labs = new long[size];
        for (int g = 0; g < size; g += group) {
            int cls;
            do cls = rng.nextInt(FashionMnist.CLASSES); while (imagesOfClass[cls].length == 0);
            for (int i = g; i < g + group; i++) {
                int k = imagesOfClass[cls][rng.nextInt(imagesOfClass[cls].length)];
                idx[i] = k;
                labs[i] = cls;
                int[] cands = captionsOfClass[cls];
                rows[i] = cands[rng.nextInt(cands.length)];
            }
        }
        return select(idx, rows, labs);
    }

    private Batch select(long[] idx, long[] rows, long[] labs) {
        int size = idx.length;
        Tensor x0 = torch.index_select(images, 0, Ops.fromLongs(idx, size).to(device, torch.ScalarType.Long));
        TextCond c = captions.select(Ops.fromLongs(rows, size).to(device, torch.ScalarType.Long));
        return new Batch(x0, c, Ops.fromLongs(labs, size).to(device, torch.ScalarType.Long));
    }

    @Override public void close() {
        images.releaseReference();
        captions.tokens().releaseReference();
        captions.mask().releaseReference();
        captions.pooled().releaseReference();
    }
}
