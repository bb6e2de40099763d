package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/** Images in [-1,1] to PNG files and grids (javax.imageio), written atomically. */
public final class Images {
    private Images() {}

    /** Grey-level bytes 0..255 of a batch [B,1,H,W] in [-1,1], row-major per image. */
    static int[] toGrey(Tensor batch) {
        Tensor u8 = batch.detach().clamp(new org.bytedeco.pytorch.ScalarOptional(Ops.s(-1)), new org.bytedeco.pytorch.ScalarOptional(Ops.s(1)))
                .add(Ops.s(1)).mul(Ops.s(127.5)).round().to(torch.ScalarType.Long);
        long[] v = Ops.toLongs(u8);
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (int) v[i];
        return out;
    }

    /**
     * One picture of a batch [B,1,H,W]: {@code cols} images a row, each scaled up {@code scale} times (nearest),
     * with a 2 px gap.
     */
    public static BufferedImage grid(Tensor batch, int cols, int scale) {
        Ops.expectShape(batch, "images", -1, 1, -1, -1);
        int b = (int) batch.size(0), h = (int) batch.size(2), w = (int) batch.size(3), gap = 2;
        int rows = (b + cols - 1) / cols, c = Math.min(cols, b);
        BufferedImage img = new BufferedImage(c * (w * scale + gap) + gap, rows * (h * scale + gap) + gap, BufferedImage.TYPE_INT_RGB);
        var g = img.createGraphics();
        g.setColor(new java.awt.Color(40, 40, 40));
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.dispose();
        int[] grey = toGrey(batch);
        for (int k = 0; k < b; k++) {
            int ox = gap + (k % cols) * (w * scale + gap), oy = gap + (k / cols) * (h * scale + gap);
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++) {
                    int v = grey[(k * h + y / scale) * w + x / scale];
                    img.setRGB(ox + x, oy + y, (v << 16) | (v << 8) | v);
                }
        }
        return img;
    }

    /** Writes a picture as PNG, atomically. */
    public static void writePng(Path file, BufferedImage img) {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer");
        });
    }

    /** Writes each image of a batch [B,1,H,W] to its own PNG at its natural size. */
    public static void writeEach(Tensor batch, java.util.List<Path> files) {
        for (int i = 0; i < files.size(); i++) writePng(files.get(i), grid(batch.narrow(0, i, 1), 1, 1).getSubimage(2, 2, (int) batch.size(3), (int) batch.size(2)));
    }

    /**
     * Each image of a batch [B,1,H,W] in [-1,1] as its own 8-bit grey picture at natural size; plain Java objects,
     * so they can leave the tensor scope and the thread that made them.
     */
    public static java.util.List<BufferedImage> each(Tensor batch) {
        Ops.expectShape(batch, "images", -1, 1, -1, -1);
        int b = (int) batch.size(0), h = (int) batch.size(2), w = (int) batch.size(3);
        int[] grey = toGrey(batch);
        java.util.List<BufferedImage> out = new java.util.ArrayList<>(b);
        for (int k = 0; k < b; k++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setPixels(0, 0, w, h, java.util.Arrays.copyOfRange(grey, k * h * w, (k + 1) * h * w));
            out.add(img);
        }
        return out;
    }

    /**
     * Grey pictures of one size in a grid, as {@link #grid(Tensor, int, int)} lays out a batch: {@code cols} a row,
     * each scaled up {@code scale} times (nearest), 2 px gaps. Pixels are copied, never drawn: drawing a grey
     * picture through Graphics2D would convert its linear grey to sRGB and change the values.
     */
    public static BufferedImage grid(java.util.List<BufferedImage> images, int cols, int scale) {
        if (images.isEmpty()) throw new IllegalArgumentException("grid: no images");
        int b = images.size(), h = images.get(0).getHeight(), w = images.get(0).getWidth(), gap = 2;
        int rows = (b + cols - 1) / cols, c = Math.min(cols, b);
        BufferedImage img = new BufferedImage(c * (w * scale + gap) + gap, rows * (h * scale + gap) + gap, BufferedImage.TYPE_BYTE_GRAY);
        var r = img.getRaster();
        int[] background = new int[img.getWidth() * img.getHeight()];
        java.util.Arrays.fill(background, 40);
        r.setPixels(0, 0, img.getWidth(), img.getHeight(), background);
        for (int k = 0; k < b; k++) {
            var src = images.get(k).getRaster();
            if (src.getWidth() != w || src.getHeight() != h) throw new IllegalArgumentException("grid: images differ in size");
            int ox = gap + (k % cols) * (w * scale + gap), oy = gap + (k / cols) * (h * scale + gap);
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++) r.setSample(ox + x, oy + y, 0, src.getSample(x / scale, y / scale, 0));
        }
        return img;
    }

    /** A picture as PNG bytes, for HTTP responses. */
    public static byte[] pngBytes(BufferedImage img) {
        var out = new java.io.ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, "png", out)) throw new IllegalStateException("no PNG writer");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e); // a memory stream does not fail
        }
        return out.toByteArray();
    }

    /** Reads a PNG, for tests and tools; errors name the file. */
    public static BufferedImage read(Path file) {
        try {
            BufferedImage img = ImageIO.read(file.toFile());
            if (img == null) throw new Add4jException(file + ": not an image");
            return img;
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
