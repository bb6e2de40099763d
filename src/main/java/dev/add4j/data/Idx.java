package dev.add4j.data;

import dev.add4j.Add4jException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * The gzipped IDX format of MNIST and Fashion-MNIST (big-endian header, then unsigned bytes):
 * images are {@code 2051, n, rows, cols, pixels...}, labels are {@code 2049, n, labels...}.
 * Every error is an {@link Add4jException} whose one-line message names the file.
 */
public final class Idx {
    /** Magic number of an IDX file of unsigned-byte images (type 0x08, 3 dimensions). */
    public static final int IMAGES_MAGIC = 2051;
    /** Magic number of an IDX file of unsigned-byte labels (type 0x08, 1 dimension). */
    public static final int LABELS_MAGIC = 2049;

    private Idx() {}

    /** Images read from a gzipped IDX file: {@code n} images of {@code rows x cols} bytes, row-major. */
    public record Images(byte[] pixels, int n, int rows, int cols) {}

    /**
     * Reads gzipped IDX images; {@code name} is used in error messages only.
     * The stream is closed.
     */
    public static Images readImages(InputStream gz, String name) {
        try (var in = new DataInputStream(new GZIPInputStream(gz, 1 << 16))) {
            int magic = in.readInt();
            if (magic != IMAGES_MAGIC)
                throw new Add4jException(name + ": not an IDX image file (magic " + magic + ", expected " + IMAGES_MAGIC + ")");
            int n = in.readInt(), rows = in.readInt(), cols = in.readInt();
            if (n < 0 || rows <= 0 || cols <= 0 || (long) n * rows * cols > Integer.MAX_VALUE - 8)
                throw new Add4jException(name + ": bad IDX header (" + n + " images of " + rows + "x" + cols + ")");
            byte[] pixels = new byte[n * rows * cols];
            in.readFully(pixels);
            return new Images(pixels, n, rows, cols);
        } catch (IOException e) {
            throw readError(name, e);
        }
    }

    /** Reads gzipped IDX labels (one unsigned byte each); {@code name} is used in error messages only. */
    public static int[] readLabels(InputStream gz, String name) {
        try (var in = new DataInputStream(new GZIPInputStream(gz, 1 << 16))) {
            int magic = in.readInt();
            if (magic != LABELS_MAGIC)
                throw new Add4jException(name + ": not an IDX label file (magic " + magic + ", expected " + LABELS_MAGIC + ")");
            int n = in.readInt();
            if (n < 0) throw new Add4jException(name + ": bad IDX header (" + n + " labels)");
            byte[] raw = new byte[n];
            in.readFully(raw);
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = raw[i] & 0xff;
            return labels;
        } catch (IOException e) {
            throw readError(name, e);
        }
    }

    /** Writes {@code n} images of {@code rows x cols} bytes as gzipped IDX. The stream is closed. */
    public static void writeImages(OutputStream out, byte[] pixels, int n, int rows, int cols) throws IOException {
        if (pixels.length != n * rows * cols)
            throw new IllegalArgumentException("writeImages: " + pixels.length + " bytes for " + n + " images of " + rows + "x" + cols);
        try (var o = new DataOutputStream(gzip(out))) {
            o.writeInt(IMAGES_MAGIC);
            o.writeInt(n);
            o.writeInt(rows);
            o.writeInt(cols);
            o.write(pixels);
        }
    }

    /** Writes labels (each 0..255) as gzipped IDX. The stream is closed. */
    public static void writeLabels(OutputStream out, int[] labels) throws IOException {
        try (var o = new DataOutputStream(gzip(out))) {
            o.writeInt(LABELS_MAGIC);
            o.writeInt(labels.length);
            for (int l : labels) o.writeByte(l);
        }
    }

    private static GZIPOutputStream gzip(OutputStream out) throws IOException {
        // best compression keeps the embedded subset small; Java writes mtime 0, so output is reproducible
        return new GZIPOutputStream(out, 1 << 16) {{ def.setLevel(Deflater.BEST_COMPRESSION); }};
    }

    private static Add4jException readError(String name, IOException e) {
        if (e instanceof EOFException) return new Add4jException(name + ": file is truncated", e);
        if (e instanceof ZipException) return new Add4jException(name + ": not a gzip file (" + e.getMessage() + ")", e);
        return new Add4jException(name + ": cannot read (" + e + ")", e);
    }
}
