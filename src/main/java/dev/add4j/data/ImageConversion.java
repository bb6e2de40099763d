package dev.add4j.data;

import com.twelvemonkeys.image.ResampleOp;
import dev.add4j.Add4jException;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.util.Locale;

import static dev.add4j.nn.Ops.s;

/**
 * How a picture becomes a model input, done once per folder ({@link ImageFolder} caches the result): composited on an
 * opaque {@code background} (RGBA, grey+alpha, palette transparency), cut to a square ({@link Fit#CROP}: the centre;
 * {@link Fit#PAD}: the whole picture, the rest filled with the background), resampled to {@code size x size} with a
 * Lanczos filter (TwelveMonkeys' {@code ResampleOp}), then reduced to the model's {@code channels}: 3 keeps RGB,
 * 1 takes Rec. 601 luma (0.299 R + 0.587 G + 0.114 B, as PIL's {@code convert("L")}).
 */
public record ImageConversion(int channels, int size, Fit fit, int background) {
    /** How a picture that is not square becomes square. */
    public enum Fit {
        /** Keep the centre square: nothing is squeezed, the long side loses its ends. */
        CROP,
        /** Keep the whole picture, centred, with bands of the background on the short side. */
        PAD;

        public static Fit parse(String s) {
            return switch (s) {
                case "crop" -> CROP;
                case "pad" -> PAD;
                default -> throw new Add4jException("fit: expected crop or pad, got '" + s + "'");
            };
        }

        public String cliName() { return name().toLowerCase(Locale.ROOT); }
    }

    /** [choice] White, as emoji and product photos are drawn on; a folder can ask for another (add4j.json). */
    public static final int WHITE = 0xFFFFFF;
    /** The sides a model can take today and in the next step (issue 20): 32 and 64 px; 8..512 are accepted. */
    static final int MIN_SIZE = 8, MAX_SIZE = 512;

    public ImageConversion {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels: expected 1 or 3, got " + channels);
        if (size < MIN_SIZE || size > MAX_SIZE)
            throw new IllegalArgumentException("size: expected " + MIN_SIZE + ".." + MAX_SIZE + " px, got " + size);
        if (fit == null) throw new IllegalArgumentException("fit is missing");
        if ((background & ~0xFFFFFF) != 0) throw new IllegalArgumentException("background: expected 0xRRGGBB, got " + Integer.toHexString(background));
    }

    /** Centre crop on white. */
    public static ImageConversion of(int channels, int size) { return new ImageConversion(channels, size, Fit.CROP, WHITE); }

    /** These settings in a file name: "c1-32px-crop-ffffff". */
    public String key() { return String.format(Locale.ROOT, "c%d-%dpx-%s-%06x", channels, size, fit.cliName(), background); }

    /** The background as the folder settings write it: "#ffffff". */
    public String backgroundHex() { return String.format(Locale.ROOT, "#%06x", background); }

    /** Parses "#rrggbb" (or "white", "black"). */
    public static int parseBackground(String s) {
        if (s.equals("white")) return WHITE;
        if (s.equals("black")) return 0;
        if (s.matches("#[0-9a-fA-F]{6}")) return Integer.parseInt(s.substring(1), 16);
        throw new Add4jException("background: expected #rrggbb, white or black, got '" + s + "'");
    }

    /** The picture as an opaque {@code size x size} RGB image: composited, made square, resampled. */
    public BufferedImage square(BufferedImage src) {
        BufferedImage argb = isGrey(src) ? greyToArgb(src) : src;
        int w = argb.getWidth(), h = argb.getHeight();
        int side = fit == Fit.CROP ? Math.min(w, h) : Math.max(w, h);
        BufferedImage sq = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = sq.createGraphics();
        try {
            g.setColor(new Color(background));
            g.fillRect(0, 0, side, side);
            g.drawImage(argb, (side - w) / 2, (side - h) / 2, null); // source-over: alpha composited on the background
        } finally {
            g.dispose();
        }
        if (side == size) return sq;
        BufferedImage out = new ResampleOp(size, size, ResampleOp.FILTER_LANCZOS).filter(sq, null);
        if (out.getType() == BufferedImage.TYPE_INT_RGB) return out;
        BufferedImage rgb = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB); // ResampleOp may pick its own type
        Graphics2D g2 = rgb.createGraphics();
        try { g2.drawImage(out, 0, 0, null); } finally { g2.dispose(); }
        return rgb;
    }

    /** Writes a square's pixels as planes R, G, B of {@code size x size} bytes at {@code offset} of {@code out}. */
    void planes(BufferedImage square, byte[] out, int offset) {
        int n = size * size;
        int[] argb = square.getRGB(0, 0, size, size, null, 0, size);
        for (int i = 0; i < n; i++) { // unpacking, not arithmetic: each byte of the int is one channel
            out[offset + i] = (byte) (argb[i] >> 16);
            out[offset + n + i] = (byte) (argb[i] >> 8);
            out[offset + 2 * n + i] = (byte) argb[i];
        }
    }

    /** uint8 RGB planes [N,3,S,S] reduced to this conversion's channels: the same, or luma rounded [N,1,S,S] (uint8). */
    public Tensor toChannels(Tensor rgb) {
        if (channels == 3) return rgb;
        Tensor f = rgb.to(torch.ScalarType.Float);                                                  // [N,3,S,S]
        Tensor y = f.narrow(1, 0, 1).mul(s(0.299)).add(f.narrow(1, 1, 1).mul(s(0.587))).add(f.narrow(1, 2, 1).mul(s(0.114)));
        return y.round().to(torch.ScalarType.Byte);                                                 // [N,1,S,S]; the weights sum to 1, so 0..255
    }

    /**
     * Java2D converts a grey PNG (other than plain 8-bit grey) through a linear-light grey colour space, which
     * brightens it; the samples are copied as sRGB grey instead, with their alpha, so grey stays the grey stored.
     */
    private static boolean isGrey(BufferedImage src) {
        return src.getType() != BufferedImage.TYPE_BYTE_GRAY && src.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
    }

    private static BufferedImage greyToArgb(BufferedImage src) {
        Raster r = src.getRaster();
        int w = src.getWidth(), h = src.getHeight();
        boolean alpha = src.getColorModel().hasAlpha();
        int greyMax = (1 << src.getColorModel().getComponentSize(0)) - 1;
        int alphaMax = alpha ? (1 << src.getColorModel().getComponentSize(1)) - 1 : 1;
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int v = Math.round(r.getSample(x, y, 0) * 255f / greyMax);             // 16- or 1..4-bit samples to 8 bits
                int a = alpha ? Math.round(r.getSample(x, y, 1) * 255f / alphaMax) : 255;
                out.setRGB(x, y, a << 24 | v << 16 | v << 8 | v);
            }
        return out;
    }
}
