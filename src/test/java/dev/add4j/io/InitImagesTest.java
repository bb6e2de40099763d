package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

class InitImagesTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    static byte[] encode(BufferedImage img, String format) throws IOException {
        var out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out));
        return out.toByteArray();
    }

    static String refused(byte[] bytes) {
        return assertThrows(Add4jException.class, () -> InitImages.decode(bytes, "init_image", InitImages.MAX_BYTES, InitImages.MAX_SIDE)).getMessage();
    }

    @Test void pngAndJpegDecodeAndAnythingElseIsRefusedNamingTheField() throws IOException {
        BufferedImage rgb = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        for (String f : new String[]{"png", "jpeg"}) {
            BufferedImage back = InitImages.decode(encode(rgb, f), "init_image", InitImages.MAX_BYTES, InitImages.MAX_SIDE);
            assertEquals(40, back.getWidth(), f);
            assertEquals(30, back.getHeight(), f);
        }
        assertEquals("init_image: only PNG or JPEG images are accepted (the bytes are neither)", refused(encode(rgb, "gif")));
        assertEquals("init_image: only PNG or JPEG images are accepted (the bytes are neither)", refused("hello".getBytes()));
        assertEquals("init_image: empty", refused(new byte[0]));
        byte[] png = encode(rgb, "png");
        String m = refused(java.util.Arrays.copyOf(png, 40));                    // a PNG cut short
        assertTrue(m.startsWith("init_image: not a valid PNG image"), m);
    }

    @Test void overOneMegabyteOrOver1024PixelsASideIsRefusedBeforeDecoding() throws IOException {
        byte[] big = new byte[InitImages.MAX_BYTES + 1];
        big[0] = (byte) 0x89;
        assertEquals("init_image: 1,048,577 bytes, at most 1,048,576", refused(big));
        // a 1025 x 1 image is tiny in bytes but over the side limit
        assertEquals("init_image: 1025x1 pixels, at most 1024x1024", refused(encode(new BufferedImage(1025, 1, BufferedImage.TYPE_BYTE_GRAY), "png")));
        assertDoesNotThrow(() -> InitImages.decode(encode(new BufferedImage(1024, 1024, BufferedImage.TYPE_BYTE_GRAY), "png"),
                "init_image", InitImages.MAX_BYTES, InitImages.MAX_SIDE));
    }

    @Test void aGreyImageKeepsItsLevelsAndColourBecomesLumaAtTheModelsSizeIn0To1Mapped() throws IOException {
        try (var scope = new PointerScope()) {
            // grey levels are taken as they are (no sRGB conversion): 0 -> -1, 255 -> 1, 51 -> -0.6
            BufferedImage grey = new BufferedImage(32, 32, BufferedImage.TYPE_BYTE_GRAY);
            grey.getRaster().setSample(3, 4, 0, 255);
            grey.getRaster().setSample(5, 6, 0, 51);
            Tensor g = InitImages.toModel(InitImages.decode(encode(grey, "png"), "f", InitImages.MAX_BYTES, InitImages.MAX_SIDE), 1, 32);
            assertArrayEquals(new long[]{1, 1, 32, 32}, Ops.shape(g));
            assertEquals(1.0, Ops.f(g.get(0).get(0).get(4).get(3)), 1e-6);
            assertEquals(-0.6, Ops.f(g.get(0).get(0).get(6).get(5)), 1e-6);
            assertEquals(-1.0, Ops.f(g.get(0).get(0).get(0).get(0)), 1e-6);
            // a pure red 64 x 64 image: luma 0.299, averaged down to 32 x 32
            BufferedImage red = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
            var gr = red.createGraphics();
            gr.setColor(Color.RED);
            gr.fillRect(0, 0, 64, 64);
            gr.dispose();
            Tensor r = InitImages.toModel(red, 1, 32);
            assertArrayEquals(new long[]{1, 1, 32, 32}, Ops.shape(r));
            assertEquals(0.299 * 2 - 1, Ops.f(r.mean()), 1e-5);
            assertEquals(0, Ops.f(r.std()), 1e-5);
            // area average: a 64 x 64 image, left half white, gives 16 columns of 1 and 16 of -1
            BufferedImage half = new BufferedImage(64, 64, BufferedImage.TYPE_BYTE_GRAY);
            for (int y = 0; y < 64; y++) for (int x = 0; x < 32; x++) half.getRaster().setSample(x, y, 0, 255);
            Tensor h = InitImages.toModel(half, 1, 32);
            assertEquals(1.0, Ops.f(h.get(0).get(0).get(10).get(15)), 1e-6);
            assertEquals(-1.0, Ops.f(h.get(0).get(0).get(10).get(16)), 1e-6);
            // transparency is over black: a fully transparent white image is black
            BufferedImage clear = new BufferedImage(8, 8, BufferedImage.TYPE_INT_ARGB);
            for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) clear.setRGB(x, y, 0x00ffffff);
            assertEquals(-1.0, Ops.f(InitImages.toModel(clear, 1, 32).max()), 1e-6);
        }
    }
}
