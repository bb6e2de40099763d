package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Input images of image-to-image: PNG or JPEG bytes, checked and decoded in memory (never written to disk), and
 * converted to what a model takes, its channels (grey or RGB) at its size in [-1,1].
 * Errors name the field or file they are about ({@code init_image: ...}).
 */
public final class InitImages {
    private InitImages() {}

    /** Largest encoded image the API takes: 1 MiB [choice: a phone photo saved as JPEG fits, a raw dump does not]. */
    public static final int MAX_BYTES = 1 << 20;
    /** Largest decoded side the API takes [choice: bounds the memory of a decoded image at 4 MB of pixels]. */
    public static final int MAX_SIDE = 1024;

    /** Which decoder, from the file's first bytes (never from its name or a client's content type). */
    private static String format(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "png";
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) return "jpeg";
        return null;
    }

    /**
     * Checks and decodes PNG or JPEG bytes; the size is read from the header before any pixel is decoded, so an
     * image of 20,000 x 20,000 pixels costs nothing.
     * @param what     the field or file named in errors
     * @param maxBytes limit on the encoded size
     * @param maxSide  limit on width and height
     * @throws Add4jException naming {@code what}, the limit and the value
     */
    public static BufferedImage decode(byte[] bytes, String what, int maxBytes, int maxSide) {
        if (bytes.length == 0) throw new Add4jException(what + ": empty");
        if (bytes.length > maxBytes)
            throw new Add4jException(String.format(java.util.Locale.ROOT, "%s: %,d bytes, at most %,d", what, bytes.length, maxBytes));
        String fmt = format(bytes);
        if (fmt == null) throw new Add4jException(what + ": only PNG or JPEG images are accepted (the bytes are neither)");
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(fmt);
        if (!readers.hasNext()) throw new IllegalStateException("no " + fmt + " decoder in this Java runtime");
        ImageReader reader = readers.next();
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            int w = reader.getWidth(0), h = reader.getHeight(0);
            if (w > maxSide || h > maxSide)
                throw new Add4jException(what + ": " + w + "x" + h + " pixels, at most " + maxSide + "x" + maxSide);
            if (w < 1 || h < 1) throw new Add4jException(what + ": " + w + "x" + h + " pixels");
            return reader.read(0);
        } catch (IOException | RuntimeException e) {
            if (e instanceof Add4jException a) throw a;
            throw new Add4jException(what + ": not a valid " + fmt.toUpperCase() + " image (" + e.getMessage() + ")", e);
        } finally {
            reader.dispose();
        }
    }

    /** Reads an image file for {@code add4j sample --init-image}: PNG or JPEG, at most 1024 x 1024 pixels, any byte size. */
    public static BufferedImage read(Path file) {
        try {
            return decode(Files.readAllBytes(file), file.toString(), Integer.MAX_VALUE, MAX_SIDE);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * An image as the model's input [1,C,size,size] in [-1,1] (CPU float32), C = {@code channels}. For one channel:
     * grey levels as they are for a grey image (converting them through sRGB would change them), else luma
     * 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as PIL's "L"). For three: the sRGB planes, a grey image's level in
     * each. Transparency over black, Fashion-MNIST's background; then an area average to size x size (nearest when
     * enlarging): the data's frame is the user's to match.
     */
    public static Tensor toModel(BufferedImage img, int channels, int size) {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels: expected 1 or 3, got " + channels);
        int w = img.getWidth(), h = img.getHeight();
        Tensor planes, alpha;                                                     // [C,H,W] in [0,1]
        boolean greyModel = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY
                && !(img.getColorModel() instanceof IndexColorModel);
        if (greyModel) {
            var r = img.getRaster();
            double max = (1 << img.getColorModel().getComponentSize(0)) - 1;
            planes = ints(r.getSamples(0, 0, w, h, 0, (int[]) null), h, w).div(Ops.s(max)).unsqueeze(0);
            alpha = img.getColorModel().hasAlpha()
                    ? ints(r.getSamples(0, 0, w, h, 1, (int[]) null), h, w).div(Ops.s((1 << img.getColorModel().getComponentSize(1)) - 1))
                    : null;
            if (channels == 3) planes = planes.expand(3, h, w);
        } else {
            Tensor argb = ints(img.getRGB(0, 0, w, h, null, 0, w), h, w);          // [H,W] int32 0xAARRGGBB (sRGB)
            Tensor r = channel(argb, 16), g = channel(argb, 8), b = channel(argb, 0);
            planes = channels == 1 ? r.mul(Ops.s(0.299)).add(g.mul(Ops.s(0.587))).add(b.mul(Ops.s(0.114))).unsqueeze(0)
                    : torch.stack(new org.bytedeco.pytorch.TensorVector(r, g, b), 0);
            alpha = img.getColorModel().hasAlpha() ? channel(argb, 24) : null;
        }
        if (alpha != null) planes = planes.mul(alpha);                             // over black
        Tensor x = planes.reshape(1, channels, h, w);                              // [1,C,H,W]
        if (h != size || w != size) x = torch.adaptive_avg_pool2d(x, size, size);  // [1,C,size,size]
        return x.mul(Ops.s(2)).sub(Ops.s(1)).contiguous();                         // [-1,1]
    }

    private static Tensor ints(int[] v, long h, long w) {
        try (IntPointer p = new IntPointer(v)) {
            return torch.from_blob(p, new long[]{h, w}, new TensorOptions(torch.ScalarType.Int)).clone();
        }
    }

    /** One 8-bit channel of packed ARGB, as float in [0,1]. */
    private static Tensor channel(Tensor argb, int shift) {
        // integer Scalars: a double one would promote the int32 tensor to float, which has no bit shifts
        return torch.bitwise_right_shift(argb, new Scalar(shift)).bitwise_and(new Scalar(255)).to(torch.ScalarType.Float).div(Ops.s(255));
    }
}
