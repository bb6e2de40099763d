package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Fashion-MNIST (Xiao et al. 2017): 28x28 grey clothing images in 10 classes, read from the four gzipped IDX
 * files, either from a directory or from the class-balanced subset shipped on the classpath ({@link #EMBEDDED}).
 */
public final class FashionMnist {
    /** Side of a stored image. */
    public static final int SIDE = 28;
    /** Side of a model input: 28 padded by 2 background pixels each side, so the UNet can halve it 3 times. */
    public static final int PADDED = 32;
    /** Number of classes. */
    public static final int CLASSES = 10;
    /** The {@code --data} value that selects the subset shipped in the jar (400 / 100 images per class). */
    public static final String EMBEDDED = "embedded";

    static final String TRAIN_IMAGES = "train-images-idx3-ubyte.gz", TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
    static final String TEST_IMAGES = "t10k-images-idx3-ubyte.gz", TEST_LABELS = "t10k-labels-idx1-ubyte.gz";
    static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);
    /** Where the Debian package dataset-fashion-mnist installs the files. */
    static final Path SYSTEM_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    static final String ENV_VAR = "ADD4J_DATA";
    static final String RESOURCE_DIR = "/data/fashion-mnist-subset/";

    private FashionMnist() {}

    /**
     * One split: {@code n} images of 28x28 unsigned bytes (row-major, 0 = black background) and their labels 0..9.
     */
    public record Split(byte[] pixels, int[] labels, int n) {
        public Split {
            if (labels.length != n || pixels.length != n * SIDE * SIDE)
                throw new IllegalArgumentException("Split: " + n + " images need " + n * SIDE * SIDE + " pixels and "
                        + n + " labels, got " + pixels.length + " and " + labels.length);
        }

        /** The pixel at row {@code y}, column {@code x} of image {@code i}, as 0..255. */
        public int pixel(int i, int y, int x) { return pixels[(i * SIDE + y) * SIDE + x] & 0xff; }
    }

    /**
     * Loads the training or test split. {@code dataOption} is the {@code --data} value: {@link #EMBEDDED}
     * for the shipped subset, a directory, or null to search as {@link #locate(String)} does.
     */
    public static Split load(String dataOption, boolean train) {
        if (EMBEDDED.equals(dataOption)) return loadEmbedded(train);
        return read(locate(dataOption), train);
    }

    /** Loads the class-balanced subset shipped on the classpath (4000 training, 1000 test images). */
    public static Split loadEmbedded(boolean train) {
        String images = RESOURCE_DIR + (train ? TRAIN_IMAGES : TEST_IMAGES);
        String labels = RESOURCE_DIR + (train ? TRAIN_LABELS : TEST_LABELS);
        return split(openResource(images), "classpath:" + images, openResource(labels), "classpath:" + labels);
    }

    /** Reads the training or test split from a directory holding the four gzipped IDX files. */
    public static Split read(Path dir, boolean train) {
        Path images = dir.resolve(train ? TRAIN_IMAGES : TEST_IMAGES);
        Path labels = dir.resolve(train ? TRAIN_LABELS : TEST_LABELS);
        return split(open(images), images.toString(), open(labels), labels.toString());
    }

    /**
     * The directory holding Fashion-MNIST: the {@code --data} value if non-null, else {@code $ADD4J_DATA} if set,
     * else {@code /usr/share/datasets/fashion-mnist}.
     * @throws Add4jException when an explicit {@code --data} directory lacks the files, or none of the others has them
     */
    public static Path locate(String dataOption) {
        return locate(dataOption, System.getenv(ENV_VAR), SYSTEM_DIR);
    }

    /** {@link #locate(String)} with the environment value and the system directory given, for tests. */
    static Path locate(String dataOption, String envValue, Path systemDir) {
        if (dataOption != null) {
            // a directory the user named is not silently replaced by another one
            Path dir = Path.of(dataOption);
            if (!hasFiles(dir) && ImageFolder.isFolder(dataOption))
                throw new Add4jException("--data " + dataOption + ": a captioned image folder; this command reads Fashion-MNIST "
                        + "only (captioned folders: train-teacher and distill)");
            if (!hasFiles(dir))
                throw new Add4jException("--data " + dataOption + ": no Fashion-MNIST there (need " + String.join(", ", FILES) + ")");
            return dir;
        }
        if (envValue != null && !envValue.isBlank() && hasFiles(Path.of(envValue))) return Path.of(envValue);
        if (hasFiles(systemDir)) return systemDir;
        throw new Add4jException("no Fashion-MNIST found: pass --data DIR, set " + ENV_VAR
                + ", or install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
    }

    /** True when {@code dir} holds all four gzipped IDX files. */
    static boolean hasFiles(Path dir) {
        return FILES.stream().allMatch(f -> Files.isRegularFile(dir.resolve(f)));
    }

    /** All images of a split as a float32 CPU tensor, see {@link #images(Split, int[])}. */
    public static Tensor images(Split split) {
        return images(split, IntStream.range(0, split.n()).toArray());
    }

    /**
     * The images at {@code indices} as a float32 CPU tensor [B,1,32,32] in [-1,1] ({@code pixel / 127.5 - 1}),
     * each padded from 28x28 by 2 background pixels (value -1) on every side.
     */
    public static Tensor images(Split split, int[] indices) {
        int b = indices.length, off = (PADDED - SIDE) / 2;
        float[] out = new float[b * PADDED * PADDED];
        Arrays.fill(out, -1f);
        for (int k = 0; k < b; k++) {
            int i = indices[k];
            for (int y = 0; y < SIDE; y++)
                for (int x = 0; x < SIDE; x++)
                    out[(k * PADDED + y + off) * PADDED + x + off] = split.pixel(i, y, x) / 127.5f - 1f;
        }
        return Ops.fromFloats(out, b, 1, PADDED, PADDED);                           // [B,1,32,32]
    }

    /** The labels at {@code indices} as an int64 CPU tensor [B]. */
    public static Tensor labels(Split split, int[] indices) {
        long[] out = new long[indices.length];
        for (int k = 0; k < indices.length; k++) out[k] = split.labels()[indices[k]];
        return Ops.fromLongs(out, out.length);                                       // [B]
    }

    private static Split split(InputStream imagesIn, String imagesName, InputStream labelsIn, String labelsName) {
        Idx.Images im = Idx.readImages(imagesIn, imagesName);
        if (im.rows() != SIDE || im.cols() != SIDE)
            throw new Add4jException(imagesName + ": images are " + im.rows() + "x" + im.cols() + ", expected 28x28");
        int[] labels = Idx.readLabels(labelsIn, labelsName);
        if (labels.length != im.n())
            throw new Add4jException(labelsName + ": " + labels.length + " labels for " + im.n() + " images in " + imagesName);
        for (int l : labels)
            if (l >= CLASSES) throw new Add4jException(labelsName + ": label " + l + " out of range 0..9");
        return new Split(im.pixels(), labels, im.n());
    }

    private static InputStream open(Path file) {
        try {
            return Files.newInputStream(file);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot open (" + e.getMessage() + ")", e);
        }
    }

    private static InputStream openResource(String name) {
        InputStream in = FashionMnist.class.getResourceAsStream(name);
        if (in == null) throw new Add4jException("classpath:" + name + ": missing from the build (run dev.add4j.data.EmbeddedSubset)");
        return in;
    }

    /** How reports name the data a {@code --data} option picks: "Fashion-MNIST (embedded subset)" or its directory. */
    public static String describe(String option) {
        return EMBEDDED.equals(option) ? "Fashion-MNIST (embedded subset)" : "Fashion-MNIST (" + locate(option) + ")";
    }
}
