package dev.add4j.data;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class IdxTest {
    @TempDir Path tmp;

    @Test void imagesAndLabelsRoundTripThroughGzippedIdxFiles() throws IOException {
        byte[] pixels = new byte[3 * 2 * 4];
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) (i * 11);            // crosses 127: unsigned bytes
        int[] labels = {0, 9, 255};
        Path images = tmp.resolve("i.gz"), labelsFile = tmp.resolve("l.gz");
        Idx.writeImages(Files.newOutputStream(images), pixels, 3, 2, 4);
        Idx.writeLabels(Files.newOutputStream(labelsFile), labels);

        Idx.Images back = Idx.readImages(Files.newInputStream(images), "i.gz");
        assertEquals(3, back.n());
        assertEquals(2, back.rows());
        assertEquals(4, back.cols());
        assertArrayEquals(pixels, back.pixels());
        assertArrayEquals(labels, Idx.readLabels(Files.newInputStream(labelsFile), "l.gz"));
    }

    @Test void wrongMagicNumberIsRejectedWithTheFileName() throws IOException {
        var labels = new ByteArrayOutputStream();
        Idx.writeLabels(labels, new int[]{1, 2});
        var e = assertThrows(Add4jException.class, () -> Idx.readImages(in(labels.toByteArray()), "labels.gz"));
        assertEquals("labels.gz: not an IDX image file (magic 2049, expected 2051)", e.getMessage());
    }

    @Test void truncatedFileIsRejectedWithTheFileName() throws IOException {
        var images = new ByteArrayOutputStream();
        Idx.writeImages(images, new byte[10 * 28 * 28], 10, 28, 28);
        byte[] cut = Arrays.copyOf(images.toByteArray(), images.size() / 2);
        var e = assertThrows(Add4jException.class, () -> Idx.readImages(in(cut), "cut.gz"));
        assertEquals("cut.gz: file is truncated", e.getMessage());
    }

    @Test void fileWithFewerPixelsThanItsHeaderSaysIsTruncated() throws IOException {
        var images = new ByteArrayOutputStream();
        Idx.writeImages(images, new byte[2 * 3 * 3], 2, 3, 3);
        byte[] raw = new java.util.zip.GZIPInputStream(in(images.toByteArray())).readAllBytes();
        raw[7] = 5;                                                                       // header now claims 5 images
        var regz = new ByteArrayOutputStream();
        try (var gz = new java.util.zip.GZIPOutputStream(regz)) { gz.write(raw); }
        var e = assertThrows(Add4jException.class, () -> Idx.readImages(in(regz.toByteArray()), "short.gz"));
        assertEquals("short.gz: file is truncated", e.getMessage());
    }

    @Test void plainFileIsRejectedAsNotGzip() {
        var e = assertThrows(Add4jException.class, () -> Idx.readLabels(in(new byte[]{0, 0, 8, 1, 0, 0, 0, 0}), "raw"));
        assertTrue(e.getMessage().startsWith("raw: not a gzip file"), e.getMessage());
    }

    private static InputStream in(byte[] b) { return new ByteArrayInputStream(b); }
}
