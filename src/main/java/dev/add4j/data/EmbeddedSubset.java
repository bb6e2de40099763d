package dev.add4j.data;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Makes the class-balanced Fashion-MNIST subset shipped in {@code src/main/resources/data/fashion-mnist-subset/}:
 * the first 400 training and the first 100 test images of each class, in file order, as gzipped IDX files with the
 * original names, so tests and the demo run with no download.
 * <pre>java -cp ... dev.add4j.data.EmbeddedSubset [FULL_DIR [OUT_DIR]]</pre>
 */
public final class EmbeddedSubset {
    /** Training images per class in the subset. */
    public static final int TRAIN_PER_CLASS = 400;
    /** Test images per class in the subset. */
    public static final int TEST_PER_CLASS = 100;

    private EmbeddedSubset() {}

    public static void main(String[] args) throws IOException {
        Path full = Path.of(args.length > 0 ? args[0] : FashionMnist.SYSTEM_DIR.toString());
        Path out = Path.of(args.length > 1 ? args[1] : "src/main/resources/data/fashion-mnist-subset");
        write(full, out);
        System.out.println("wrote the Fashion-MNIST subset to " + out.toAbsolutePath());
    }

    /** Writes the subset of the full data set in {@code fullDir} to {@code outDir}. */
    public static void write(Path fullDir, Path outDir) throws IOException {
        Files.createDirectories(outDir);
        write(FashionMnist.read(fullDir, true), TRAIN_PER_CLASS, outDir, FashionMnist.TRAIN_IMAGES, FashionMnist.TRAIN_LABELS);
        write(FashionMnist.read(fullDir, false), TEST_PER_CLASS, outDir, FashionMnist.TEST_IMAGES, FashionMnist.TEST_LABELS);
    }

    /** The first {@code perClass} images of each class, in file order. */
    static FashionMnist.Split balanced(FashionMnist.Split all, int perClass) {
        int side2 = FashionMnist.SIDE * FashionMnist.SIDE, n = perClass * FashionMnist.CLASSES;
        byte[] pixels = new byte[n * side2];
        int[] labels = new int[n], taken = new int[FashionMnist.CLASSES];
        int k = 0;
        for (int i = 0; i < all.n() && k < n; i++) {
            int c = all.labels()[i];
            if (taken[c] == perClass) continue;
            taken[c]++;
            System.arraycopy(all.pixels(), i * side2, pixels, k * side2, side2);
            labels[k++] = c;
        }
        if (k < n) throw new IllegalStateException("only " + k + " images found for " + perClass + " per class");
        return new FashionMnist.Split(pixels, labels, n);
    }

    private static void write(FashionMnist.Split all, int perClass, Path outDir, String imagesFile, String labelsFile) throws IOException {
        FashionMnist.Split s = balanced(all, perClass);
        try (OutputStream o = Files.newOutputStream(outDir.resolve(imagesFile))) {
            Idx.writeImages(o, s.pixels(), s.n(), FashionMnist.SIDE, FashionMnist.SIDE);
        }
        try (OutputStream o = Files.newOutputStream(outDir.resolve(labelsFile))) {
            Idx.writeLabels(o, s.labels());
        }
    }
}
