package dev.add4j.data;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A user's captioned image folder, made by a test: coloured shapes on transparent RGBA canvases of a few sizes,
 * captions like "a red circle", every tenth image in the test split.
 */
public final class FolderFixture {
    static final String[] COLOURS = {"red", "green", "blue", "yellow", "purple"};
    static final Color[] RGB = {Color.RED, Color.GREEN, Color.BLUE, Color.YELLOW, new Color(128, 0, 128)};
    static final String[] SHAPES = {"circle", "square", "triangle", "ring"};

    private FolderFixture() {}

    /** Writes {@code n} PNGs (in images/ and a sub-folder) and captions.csv to {@code dir}; returns dir. */
    public static Path write(Path dir, int n) {
        List<String> rows = new ArrayList<>(List.of("file,caption,split"));
        for (int i = 0; i < n; i++) {
            int colour = i % COLOURS.length, shape = i / COLOURS.length % SHAPES.length;
            String file = (i % 2 == 0 ? "images/" : "images/more/") + String.format("img-%03d.png", i);
            png(dir.resolve(file), shape(RGB[colour], shape, 36 + i % 3 * 6, 32 + i % 4 * 8));
            String caption = "a " + COLOURS[colour] + " " + SHAPES[shape];
            rows.add(file + "," + caption + "," + (i % 10 == 9 ? "test" : "train"));
            if (i % 7 == 0) rows.add(file + ",\"" + SHAPES[shape] + ", " + COLOURS[colour] + "\"," + (i % 10 == 9 ? "test" : "train"));
        }
        write(dir.resolve("captions.csv"), String.join("\n", rows) + "\n");
        return dir;
    }

    /** A w x h RGBA picture: transparent, with one filled shape in the middle. */
    public static BufferedImage shape(Color c, int shape, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
        Graphics2D g = img.createGraphics();
        g.setColor(c);
        int s = Math.min(w, h) * 2 / 3, x = (w - s) / 2, y = (h - s) / 2;
        switch (shape) {
            case 0 -> g.fillOval(x, y, s, s);
            case 1 -> g.fillRect(x, y, s, s);
            case 2 -> g.fillPolygon(new int[]{x, x + s, x + s / 2}, new int[]{y + s, y + s, y}, 3);
            default -> { g.fillOval(x, y, s, s); g.setComposite(java.awt.AlphaComposite.Clear); g.fillOval(x + s / 4, y + s / 4, s / 2, s / 2); }
        }
        g.dispose();
        return img;
    }

    public static void png(Path file, BufferedImage img) {
        try {
            Files.createDirectories(file.getParent());
            if (!ImageIO.write(img, "png", file.toFile())) throw new IllegalStateException("no PNG writer");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Path file, String text) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
