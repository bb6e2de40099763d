package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class FashionMnistTest {
    @TempDir Path tmp;

    @BeforeAll static void init() { TorchRuntime.init(); }

    @Test void embeddedTrainingSubsetHas400ImagesOfEachClass() {
        FashionMnist.Split s = FashionMnist.load(FashionMnist.EMBEDDED, true);
        assertEquals(4000, s.n());
        assertArrayEquals(new int[]{400, 400, 400, 400, 400, 400, 400, 400, 400, 400}, perClass(s));
    }

    @Test void embeddedTestSubsetHas100ImagesOfEachClass() {
        FashionMnist.Split s = FashionMnist.load(FashionMnist.EMBEDDED, false);
        assertEquals(1000, s.n());
        assertArrayEquals(new int[]{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, perClass(s));
    }

    @Test void embeddedSubsetIsTheFirstImagesOfEachClassOfTheFullSet() {
        org.junit.jupiter.api.Assumptions.assumeTrue(FashionMnist.hasFiles(FashionMnist.SYSTEM_DIR), "full data set not installed");
        FashionMnist.Split full = FashionMnist.read(FashionMnist.SYSTEM_DIR, false);
        FashionMnist.Split embedded = FashionMnist.loadEmbedded(false);
        FashionMnist.Split expected = EmbeddedSubset.balanced(full, EmbeddedSubset.TEST_PER_CLASS);
        assertArrayEquals(expected.labels(), embedded.labels());
        assertArrayEquals(expected.pixels(), embedded.pixels());
    }

    @Test void imagesArePaddedTo32WithMinusOneAndScaledToPlusMinusOne() {
        try (var scope = new PointerScope()) {
            byte[] pixels = new byte[2 * 28 * 28];
            java.util.Arrays.fill(pixels, (byte) 255);
            pixels[0] = 0;                                                                 // image 0, top-left
            FashionMnist.Split s = new FashionMnist.Split(pixels, new int[]{3, 7}, 2);
            Tensor x = FashionMnist.images(s);
            assertArrayEquals(new long[]{2, 1, 32, 32}, Ops.shape(x));
            float[] v = Ops.toFloats(x);
            for (int y = 0; y < 32; y++)
                for (int c = 0; c < 32; c++) {
                    boolean border = y < 2 || y >= 30 || c < 2 || c >= 30;
                    float expected = border || (y == 2 && c == 2) ? -1f : 1f;
                    assertEquals(expected, v[y * 32 + c], 1e-6, "image 0 at " + y + "," + c);
                }
            assertArrayEquals(new long[]{7, 3}, Ops.toLongs(FashionMnist.labels(s, new int[]{1, 0})));
        }
    }

    @Test void embeddedImagesTensorHasShapeNx1x32x32InMinusOneToOneWithMinusOneBorder() {
        try (var scope = new PointerScope()) {
            Tensor x = FashionMnist.images(FashionMnist.loadEmbedded(false));
            assertArrayEquals(new long[]{1000, 1, 32, 32}, Ops.shape(x));
            assertEquals(-1.0, Ops.f(x.min()), 1e-6);
            assertEquals(1.0, Ops.f(x.max()), 1e-6);                                     // some pixel is 255
            float[] v = Ops.toFloats(x);
            for (int i = 0; i < 1000; i++)
                for (int y = 0; y < 32; y++)
                    for (int c = 0; c < 32; c++)
                        if (y < 2 || y >= 30 || c < 2 || c >= 30)
                            assertEquals(-1f, v[(i * 32 + y) * 32 + c], "border of image " + i + " at " + y + "," + c);
        }
    }

    @Test void locateWithNothingFoundSaysHowToGetTheData() {
        var e = assertThrows(Add4jException.class, () -> FashionMnist.locate(null, null, tmp.resolve("nowhere")));
        assertEquals("no Fashion-MNIST found: pass --data DIR, set ADD4J_DATA, or install the Debian package "
                + "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)", e.getMessage());
    }

    @Test void locateRejectsAnExplicitDataDirWithoutTheFiles() {
        Path empty = tmp.resolve("empty");
        var e = assertThrows(Add4jException.class, () -> FashionMnist.locate(empty.toString(), null, FashionMnist.SYSTEM_DIR));
        assertTrue(e.getMessage().startsWith("--data " + empty + ": no Fashion-MNIST there"), e.getMessage());
    }

    @Test void locatePrefersTheDataOptionThenTheEnvironmentThenTheSystemDir() throws IOException {
        Path a = fakeDataDir("a"), b = fakeDataDir("b"), c = fakeDataDir("c");
        assertEquals(a, FashionMnist.locate(a.toString(), b.toString(), c));
        assertEquals(b, FashionMnist.locate(null, b.toString(), c));
        assertEquals(c, FashionMnist.locate(null, tmp.resolve("missing").toString(), c));
    }

    @Test void directoryWithMoreImagesThanLabelsIsRejectedNamingTheFile() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("bad"));
        Idx.writeImages(Files.newOutputStream(dir.resolve(FashionMnist.TEST_IMAGES)), new byte[3 * 784], 3, 28, 28);
        Idx.writeLabels(Files.newOutputStream(dir.resolve(FashionMnist.TEST_LABELS)), new int[]{1, 2});
        var e = assertThrows(Add4jException.class, () -> FashionMnist.read(dir, false));
        assertEquals(dir.resolve(FashionMnist.TEST_LABELS) + ": 2 labels for 3 images in " + dir.resolve(FashionMnist.TEST_IMAGES), e.getMessage());
    }

    @Test void imagesThatAreNot28x28AreRejected() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("small"));
        Idx.writeImages(Files.newOutputStream(dir.resolve(FashionMnist.TEST_IMAGES)), new byte[2 * 16 * 16], 2, 16, 16);
        Idx.writeLabels(Files.newOutputStream(dir.resolve(FashionMnist.TEST_LABELS)), new int[]{1, 2});
        var e = assertThrows(Add4jException.class, () -> FashionMnist.read(dir, false));
        assertEquals(dir.resolve(FashionMnist.TEST_IMAGES) + ": images are 16x16, expected 28x28", e.getMessage());
    }

    private Path fakeDataDir(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        for (String f : FashionMnist.FILES) Files.write(dir.resolve(f), new byte[0]);   // locate checks presence only
        return dir;
    }

    private static int[] perClass(FashionMnist.Split s) {
        int[] counts = new int[FashionMnist.CLASSES];
        for (int l : s.labels()) counts[l]++;
        return counts;
    }
}
