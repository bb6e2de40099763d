package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ImageFolderTest {
    @TempDir Path dir;

    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A w x h picture, transparent on the left half, opaque {@code c} on the right half. */
    private static BufferedImage halfOpaque(int w, int h, Color c) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < h; y++) for (int x = w / 2; x < w; x++) img.setRGB(x, y, c.getRGB());
        return img;
    }

    /** Loads the folder's train split at {@code channels} x {@code size} and returns its first image's pixels [C][S*S]. */
    private long[][] firstImage(int channels, int size) {
        try (var scope = new PointerScope()) {
            ImageFolder f = ImageFolder.open(dir);
            Tensor x = f.load(CaptionTable.TRAIN, f.conversion(channels, size), null).images();       // [n,C,S,S] uint8
            assertEquals(torch.ScalarType.Byte, x.scalar_type().intern());
            assertArrayEquals(new long[]{f.files().size(), channels, size, size}, Ops.shape(x));
            long[][] out = new long[channels][];
            for (int c = 0; c < channels; c++) out[c] = Ops.toLongs(x.select(0, 0).select(0, c));
            return out;
        }
    }

    private static long at(long[] plane, int size, int y, int x) { return plane[y * size + x]; }

    @Test void rgbaBecomesGreyOnWhiteCentreCroppedAndResampled() {
        FolderFixture.png(dir.resolve("a.png"), halfOpaque(64, 32, Color.RED));
        FolderFixture.write(dir.resolve("captions.csv"), "file,caption\na.png,half red\n");
        long[] y = firstImage(1, 16)[0];
        // the centre 32x32 square: x 16..31 transparent (white), x 32..47 red; luma of red = round(0.299 * 255) = 76
        assertEquals(255, at(y, 16, 8, 0));
        assertEquals(76, at(y, 16, 8, 15));
        assertEquals(255, at(y, 16, 0, 0), "crop keeps no band at the top");
    }

    @Test void padKeepsTheWholePictureWithBandsOfTheStatedBackground() {
        FolderFixture.png(dir.resolve("a.png"), halfOpaque(64, 32, Color.RED));
        FolderFixture.write(dir.resolve("captions.csv"), "file,caption\na.png,half red\n");
        FolderFixture.write(dir.resolve(ImageFolder.SETTINGS), "{\"fit\": \"pad\", \"background\": \"#000080\"}");
        long[][] rgb = firstImage(3, 16);
        // 64x64 with bands of navy above and below the picture; its transparent left half is navy too
        assertArrayEquals(new long[]{0, 0, 128}, new long[]{at(rgb[0], 16, 0, 15), at(rgb[1], 16, 0, 15), at(rgb[2], 16, 0, 15)});
        assertArrayEquals(new long[]{0, 0, 128}, new long[]{at(rgb[0], 16, 8, 0), at(rgb[1], 16, 8, 0), at(rgb[2], 16, 8, 0)});
        assertArrayEquals(new long[]{255, 0, 0}, new long[]{at(rgb[0], 16, 8, 15), at(rgb[1], 16, 8, 15), at(rgb[2], 16, 8, 15)});
    }

    @Test void lanczosAveragesAFineCheckerboardToMidGrey() {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) img.getRaster().setSample(x, y, 0, (x + y) % 2 == 0 ? 255 : 0);
        FolderFixture.png(dir.resolve("a.png"), img);
        FolderFixture.write(dir.resolve("captions.csv"), "file,caption\na.png,checks\n");
        long[] y = firstImage(1, 16)[0];
        // a real filter averages; nearest-neighbour would give 0 or 255
        for (int i : new int[]{17, 100, 200}) assertTrue(Math.abs(y[i] - 128) <= 3, "pixel " + i + " = " + y[i]);
    }

    @Test void greyPngsKeepTheGreyTheyStore() {
        BufferedImage g8 = new BufferedImage(32, 32, BufferedImage.TYPE_BYTE_GRAY), g16 = new BufferedImage(32, 32, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) { g8.getRaster().setSample(x, y, 0, 100); g16.getRaster().setSample(x, y, 0, 100 * 257); }
        FolderFixture.png(dir.resolve("a.png"), g8);
        FolderFixture.png(dir.resolve("b.png"), g16);
        FolderFixture.write(dir.resolve("captions.csv"), "file,caption\na.png,grey\nb.png,grey too\n");
        try (var scope = new PointerScope()) {
            ImageFolder f = ImageFolder.open(dir);
            Tensor x = f.load(CaptionTable.TRAIN, f.conversion(1, 32), null).images();
            for (long v : Ops.toLongs(x)) assertEquals(100, v); // not brightened by a linear-light grey conversion
        }
    }

    @Test void csvAndJsonlTablesReadAlike(@TempDir Path other) {
        FolderFixture.png(dir.resolve("x/a.png"), halfOpaque(8, 8, Color.RED));
        FolderFixture.png(dir.resolve("b.png"), halfOpaque(8, 8, Color.RED));
        FolderFixture.write(dir.resolve("captions.csv"), "\uFEFFfile,caption,split\nx/a.png,\"red, half\",train\nb.png,blue,test\nx/a.png,a half,train\n");
        ImageFolder csv = ImageFolder.open(dir);
        FolderFixture.png(other.resolve("x/a.png"), halfOpaque(8, 8, Color.RED));
        FolderFixture.png(other.resolve("b.png"), halfOpaque(8, 8, Color.RED));
        FolderFixture.write(other.resolve("captions.jsonl"), "{\"file\": \"x/a.png\", \"caption\": \"red, half\"}\n\n"
                + "{\"file\": \"b.png\", \"caption\": \"blue\", \"split\": \"test\"}\n{\"file\": \"x/a.png\", \"caption\": \"a half\"}\n");
        ImageFolder jsonl = ImageFolder.open(other);
        assertEquals(List.of("b.png", "x/a.png"), csv.files());
        assertEquals(csv.files(), jsonl.files());
        assertEquals("train 1, test 1", csv.splitCounts());
        assertEquals(csv.splitCounts(), jsonl.splitCounts());
        try (var scope = new PointerScope()) {
            ImageFolder.Split a = csv.load(CaptionTable.TRAIN, csv.conversion(1, 8), null), b = jsonl.load(CaptionTable.TRAIN, jsonl.conversion(1, 8), null);
            assertEquals(List.of(List.of("red, half", "a half")), a.captions());
            assertEquals(a.captions(), b.captions());
        }
    }

    @Test void theCacheIsReusedThenRebuiltWhenAFileChanges() throws IOException {
        FolderFixture.write(dir, 12);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8);
        try (var scope = new PointerScope()) {
            ImageFolder f = ImageFolder.open(dir);
            ImageConversion c = f.conversion(1, 32);
            float[] first = Ops.toFloats(f.load(CaptionTable.TRAIN, c, out).images());
            Path cache = ImageCache.file(dir, c);
            assertTrue(Files.isRegularFile(cache));
            assertTrue(log.toString().contains("converting 12 images"), log.toString());
            byte[] cached = Files.readAllBytes(cache);
            log.reset();

            float[] again = Ops.toFloats(ImageFolder.open(dir).load(CaptionTable.TRAIN, c, out).images());
            assertEquals("", log.toString(), "read from the cache, nothing converted");
            assertArrayEquals(first, again);
            assertArrayEquals(cached, Files.readAllBytes(cache), "the cache is not rewritten");

            // another conversion has a file of its own; the first one stays
            ImageFolder.open(dir).load(CaptionTable.TRAIN, f.conversion(3, 32), out);
            assertTrue(Files.isRegularFile(ImageCache.file(dir, f.conversion(3, 32))));
            assertArrayEquals(cached, Files.readAllBytes(cache));
            log.reset();

            // a changed picture rebuilds the cache, and its pixels change
            FolderFixture.png(dir.resolve("images/img-000.png"), FolderFixture.shape(Color.WHITE, 1, 40, 40));
            float[] changed = Ops.toFloats(ImageFolder.open(dir).load(CaptionTable.TRAIN, c, out).images());
            assertTrue(log.toString().contains("converting 12 images"), log.toString());
            assertFalse(Arrays.equals(first, changed));
            log.reset();

            // so does a new captioned picture
            FolderFixture.png(dir.resolve("new.png"), FolderFixture.shape(Color.RED, 0, 40, 40));
            Files.writeString(dir.resolve("captions.csv"), "new.png,a red circle,train\n", java.nio.file.StandardOpenOption.APPEND);
            ImageFolder.Split grown = ImageFolder.open(dir).load(CaptionTable.TRAIN, c, out);
            assertTrue(log.toString().contains("converting 13 images"), log.toString());
            assertEquals(12, grown.n()); // 13 images, one of them in test
        }
    }

    /** Each bad folder: one line that names the file at fault; and no cache is written. */
    @ParameterizedTest
    @ValueSource(strings = {"unreadable", "missing", "uncaptioned", "noTrainSplit", "header", "emptyCaption", "twoSplits",
            "unknownSplit", "twoTables", "outside", "settings", "fields", "notAnImage"})
    void badInputGivesOneLineNamingTheFileAndWritesNothing(String bad) throws IOException {
        FolderFixture.write(dir, 10);
        Path csv = dir.resolve("captions.csv");
        String expect = switch (bad) {
            case "unreadable" -> {
                Files.writeString(dir.resolve("images/img-004.png"), "not a picture");
                yield dir.resolve("images/img-004.png") + ": not a PNG or JPEG";
            }
            case "missing" -> {
                Files.delete(dir.resolve("images/more/img-003.png"));
                yield csv + " line 6: caption for 'images/more/img-003.png', but there is no such file";
            }
            case "uncaptioned" -> {
                FolderFixture.png(dir.resolve("images/stray.png"), FolderFixture.shape(Color.RED, 0, 20, 20));
                yield dir.resolve("images/stray.png") + ": no caption";
            }
            case "noTrainSplit" -> {
                Files.writeString(csv, Files.readString(csv).replace(",train", ",test"));
                yield csv + ": no image in split 'train' (train 0, test 10)";
            }
            case "header" -> {
                Files.writeString(csv, Files.readString(csv).replace("file,caption,split", "image,text"));
                yield csv + " line 1: header is image,text";
            }
            case "emptyCaption" -> {
                Files.writeString(csv, Files.readString(csv).replace("a red square", " "));
                yield csv + " line 8: 'images/more/img-005.png' has an empty caption";
            }
            case "twoSplits" -> {
                Files.writeString(csv, Files.readString(csv) + "images/more/img-009.png,again,train\n");
                yield csv + " line 14: 'images/more/img-009.png' is in split train here and test";
            }
            case "unknownSplit" -> {
                Files.writeString(csv, Files.readString(csv).replaceFirst(",train", ",val"));
                yield csv + " line 2: split 'val'; expected train or test";
            }
            case "twoTables" -> {
                Files.writeString(dir.resolve("captions.jsonl"), "{\"file\": \"images/img-000.png\", \"caption\": \"x\"}\n");
                yield dir + ": both captions.csv and captions.jsonl";
            }
            case "outside" -> {
                Files.writeString(csv, Files.readString(csv) + "../secret.png,a secret,train\n");
                yield csv + " line 14: '../secret.png' is not a path inside the folder";
            }
            case "settings" -> {
                Files.writeString(dir.resolve(ImageFolder.SETTINGS), "{\"fit\": \"stretch\"}");
                yield dir.resolve(ImageFolder.SETTINGS) + ": fit: expected crop or pad, got 'stretch'";
            }
            case "fields" -> {
                Files.writeString(csv, Files.readString(csv) + "images/img-001.png,a,train,extra\n");
                yield csv + " line 14: 4 fields, expected 3";
            }
            case "notAnImage" -> {
                Files.writeString(dir.resolve("notes.txt"), "hello");
                Files.writeString(csv, Files.readString(csv) + "notes.txt,some notes,train\n");
                yield csv + " line 14: 'notes.txt' is not a .png, .jpg or .jpeg file";
            }
            default -> throw new IllegalArgumentException(bad);
        };
        var e = assertThrows(Add4jException.class, () -> {
            try (var scope = new PointerScope()) {
                ImageFolder f = ImageFolder.open(dir);
                f.load(CaptionTable.TRAIN, f.conversion(1, 32), null);
                f.load(CaptionTable.TEST, f.conversion(1, 32), null);
            }
        });
        assertTrue(e.getMessage().startsWith(expect), e.getMessage() + "\nexpected: " + expect);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(dir.resolve(ImageFolder.CACHE_DIR)), "nothing is written");
    }

    @Test void aFolderIsToldApartFromFashionMnist() {
        FolderFixture.write(dir, 2);
        assertTrue(ImageFolder.isFolder(dir.toString()));
        assertFalse(ImageFolder.isFolder(FashionMnist.EMBEDDED));
        assertFalse(ImageFolder.isFolder(null));
        assertFalse(ImageFolder.isFolder(dir.resolve("images").toString()));
        var e = assertThrows(Add4jException.class, () -> FashionMnist.locate(dir.toString()));
        assertTrue(e.getMessage().contains("a captioned image folder; this command reads Fashion-MNIST only"), e.getMessage());
    }
}
