package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/** Images in [-1,1], grey [B,1,H,W] or RGB [B,3,H,W], to PNG files and grids (javax.imageio), written atomically. */
public final class Images {
    private Images() {}

    /** 8-bit levels 0..255 of images in [-1,1], as int32 of the same shape (CPU). */
    static Tensor levels(Tensor batch) {
        return batch.detach().clamp(new org.bytedeco.pytorch.ScalarOptional(Ops.s(-1)), new org.bytedeco.pytorch.ScalarOptional(Ops.s(1)))
                .add(Ops.s(1)).mul(Ops.s(127.5)).round().to(torch.ScalarType.Int).cpu();
    }

    /** The int32 values of a CPU tensor, in its row-major order. */
    static int[] ints(Tensor t) {
        Tensor c = t.to(torch.ScalarType.Int).contiguous();
        int[] out = new int[(int) c.numel()];
        new org.bytedeco.javacpp.IntPointer(c.data_ptr_int()).capacity(out.length).get(out);
        return out;
    }

    /** Refuses a batch other than [B,1,H,W] (grey) or [B,3,H,W] (RGB). */
    private static void expectImages(Tensor batch) {
        if (batch.dim() != 4 || (batch.size(1) != 1 && batch.size(1) != 3))
            throw new IllegalArgumentException("images: expected [B,1,H,W] or [B,3,H,W], got " + java.util.Arrays.toString(Ops.shape(batch)).replace(" ", ""));
    }

    /**
     * One picture of a batch [B,C,H,W] (C = 1 grey, 3 RGB): {@code cols} images a row, each scaled up {@code scale}
     * times (nearest), with a 2 px gap; an RGB picture either way (grey levels in all three bands).
     */
    public static BufferedImage grid(Tensor batch, int cols, int scale) {
        expectImages(batch);
        int b = (int) batch.size(0), h = (int) batch.size(2), w = (int) batch.size(3), gap = 2;
        int rows = (b + cols - 1) / cols, c = Math.min(cols, b);
        long cellH = (long) h * scale + gap, cellW = (long) w * scale + gap;
        // the layout as tensor ops: scale up, fill the last row, a gap right of and below each cell, rows of cells
        Tensor x = levels(batch).expand(b, 3, h, w);                                             // [B,3,h,w] int32
        x = x.repeat_interleave(scale, new org.bytedeco.pytorch.LongOptional(2), new org.bytedeco.pytorch.LongOptional()).repeat_interleave(scale, new org.bytedeco.pytorch.LongOptional(3), new org.bytedeco.pytorch.LongOptional());               // [B,3,hs,ws]
        if (rows * c > b) x = torch.cat(new org.bytedeco.pytorch.TensorVector(x, torch.full(new long[]{rows * c - b, 3, (long) h * scale, (long) w * scale},
                Ops.s(BACKGROUND), new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Int))), 0);  // [rows*c,3,hs,ws]
        x = torch.constant_pad_nd(x, new long[]{0, gap, 0, gap}, Ops.s(BACKGROUND));              // [rows*c,3,cellH,cellW]
        x = x.reshape(rows, c, 3, cellH, cellW).permute(0, 3, 1, 4, 2).reshape(rows * cellH, c * cellW, 3); // [rows*cellH,c*cellW,3]
        x = torch.constant_pad_nd(x, new long[]{0, 0, gap, 0, gap, 0}, Ops.s(BACKGROUND));        // [H',W',3]
        BufferedImage img = new BufferedImage((int) x.size(1), (int) x.size(0), BufferedImage.TYPE_INT_RGB);
        img.getRaster().setPixels(0, 0, img.getWidth(), img.getHeight(), ints(x));
        return img;
    }

    /** Grey level of a grid's background and gaps. */
    private static final int BACKGROUND = 40;

    /** Writes a picture as PNG, atomically. */
    public static void writePng(Path file, BufferedImage img) {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer");
        });
    }

    /** Writes each image of a batch [B,C,H,W] to its own PNG at its natural size. */
    public static void writeEach(Tensor batch, java.util.List<Path> files) {
        for (int i = 0; i < files.size(); i++) writePng(files.get(i), grid(batch.narrow(0, i, 1), 1, 1).getSubimage(2, 2, (int) batch.size(3), (int) batch.size(2)));
    }

    /**
     * Each image of a batch [B,C,H,W] in [-1,1] as its own 8-bit picture at natural size, grey for C = 1 and RGB for
     * C = 3; plain Java objects, so they can leave the tensor scope and the thread that made them.
     */
    public static java.util.List<BufferedImage> each(Tensor batch) {
        expectImages(batch);
        int b = (int) batch.size(0), c = (int) batch.size(1), h = (int) batch.size(2), w = (int) batch.size(3);
        int[] v = ints(levels(batch).permute(0, 2, 3, 1));                                        // [B,H,W,C]
        java.util.List<BufferedImage> out = new java.util.ArrayList<>(b);
        for (int k = 0; k < b; k++) {
            BufferedImage img = new BufferedImage(w, h, c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
            img.getRaster().setPixels(0, 0, w, h, java.util.Arrays.copyOfRange(v, k * h * w * c, (k + 1) * h * w * c));
            out.add(img);
        }
        return out;
    }

    /**
     * Pictures of one size in a grid, as {@link #grid(Tensor, int, int)} lays out a batch: {@code cols} a row, each
     * scaled up {@code scale} times (nearest), 2 px gaps; grey when every picture is grey, else RGB. Pixels are
     * copied, never drawn: drawing a grey picture through Graphics2D would convert its linear grey to sRGB and
     * change the values.
     */
    public static BufferedImage grid(java.util.List<BufferedImage> images, int cols, int scale) {
        if (images.isEmpty()) throw new IllegalArgumentException("grid: no images");
        boolean grey = images.stream().allMatch(i -> i.getType() == BufferedImage.TYPE_BYTE_GRAY);
        int b = images.size(), h = images.get(0).getHeight(), w = images.get(0).getWidth(), gap = 2;
        int rows = (b + cols - 1) / cols, c = Math.min(cols, b);
        BufferedImage img = new BufferedImage(c * (w * scale + gap) + gap, rows * (h * scale + gap) + gap,
                grey ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        var r = img.getRaster();
        int bands = r.getNumBands();
        int[] background = new int[img.getWidth() * img.getHeight() * bands];
        java.util.Arrays.fill(background, BACKGROUND);
        r.setPixels(0, 0, img.getWidth(), img.getHeight(), background);
        for (int k = 0; k < b; k++) {
            BufferedImage one = images.get(k);
            if (one.getWidth() != w || one.getHeight() != h) throw new IllegalArgumentException("grid: images differ in size");
            var src = one.getRaster();
            int last = src.getNumBands() - 1;                                                     // a grey picture's one level in all three bands
            int ox = gap + (k % cols) * (w * scale + gap), oy = gap + (k / cols) * (h * scale + gap);
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++)
                    for (int band = 0; band < bands; band++) r.setSample(ox + x, oy + y, band, src.getSample(x / scale, y / scale, Math.min(band, last)));
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
