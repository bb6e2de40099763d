package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.cli.CliRun;
import dev.add4j.nn.Ops;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j data emoji} on tiny tarballs made here, shaped like emoji-datasource 16.0.0's (no network). */
class EmojiDatasetTest {
    @TempDir Path tmp;

    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A code point sequence that the hash puts in the test split. */
    private static String heldOut() {
        for (int i = 0; ; i++) if (EmojiDataset.testSplit("1F9" + i)) return "1F9" + i;
    }

    private static final String EMOJI_JSON = """
            [{"name": "RED APPLE", "unified": "1F34E", "image": "1f34e.png", "short_name": "apple", "short_names": ["apple"],
              "has_img_apple": true, "has_img_google": true, "has_img_twitter": true, "has_img_facebook": true},
             {"name": "WAVING HAND SIGN", "unified": "1F44B", "image": "1f44b.png", "short_names": ["wave", "raised_hand-wave"],
              "has_img_apple": true, "has_img_google": false,
              "skin_variations": {"1F3FB": {"unified": "1F44B-1F3FB", "image": "1f44b-1f3fb.png", "has_img_apple": true, "has_img_google": true}}},
             {"name": "ROCKET", "unified": "HELD", "image": "1f680.png", "short_names": ["rocket"], "has_img_apple": true, "has_img_google": true},
             {"name": "", "unified": "1F000", "image": "1f000.png", "short_names": [], "has_img_apple": true}]
            """;

    /** Writes the data tarball and the apple and google ones to {@code dir}; google lacks {@code omit} when given. */
    private static void tarballs(Path dir, String omit) throws IOException {
        String json = EMOJI_JSON.replace("HELD", heldOut());
        tgz(dir.resolve("emoji-datasource-16.0.0.tgz"), Map.of("package/emoji.json", json.getBytes(StandardCharsets.UTF_8),
                "package/LICENSE", "The MIT License (MIT)\nCopyright (c) 2013 Cal Henderson\n".getBytes(StandardCharsets.UTF_8)));
        for (String style : List.of("apple", "google")) {
            Map<String, byte[]> files = new LinkedHashMap<>();
            files.put("package/LICENSE", "MIT".getBytes(StandardCharsets.UTF_8));
            files.put("package/img/" + style + "/sheets/32.png", png(Color.BLACK, 4));
            for (String img : List.of("1f34e.png", "1f44b.png", "1f44b-1f3fb.png", "1f680.png", "1f000.png"))
                if (!(style.equals("google") && img.equals(omit))) {
                    files.put("package/img/" + style + "/64/" + img, png(style.equals("apple") ? Color.RED : Color.BLUE, 64));
                    files.put("package/img/" + style + "/32/" + img, png(Color.BLACK, 32)); // other sizes are not taken
                }
            tgz(dir.resolve("emoji-datasource-" + style + "-16.0.0.tgz"), files);
        }
    }

    private static byte[] png(Color c, int side) throws IOException {
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_INT_ARGB);
        var g = img.createGraphics();
        g.setColor(c);
        g.fillOval(side / 4, side / 4, side / 2, side / 2);
        g.dispose();
        var out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    private static void tgz(Path file, Map<String, byte[]> entries) throws IOException {
        try (OutputStream o = Files.newOutputStream(file); var tar = new TarArchiveOutputStream(new GZIPOutputStream(o))) {
            for (var e : entries.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
    }

    @Test void buildsACaptionedFolderThatTrainingReads() throws IOException {
        Path from = Files.createDirectories(tmp.resolve("packs")), out = tmp.resolve("emoji");
        tarballs(from, null);
        CliRun r = CliRun.of("data", "emoji", "--from", from.toString(), "--out", out.toString(), "--styles", "apple,google");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("wrote 7 images of 3 emoji in 2 styles"), r.out());

        List<CaptionTable.Row> rows = CaptionTable.read(out.resolve("captions.csv"));
        Map<String, List<String>> captions = new LinkedHashMap<>();
        Map<String, String> split = new LinkedHashMap<>();
        for (CaptionTable.Row row : rows) {
            captions.computeIfAbsent(row.file(), f -> new ArrayList<>()).add(row.caption());
            split.put(row.file(), row.split());
        }
        assertEquals(List.of("red apple", "apple"), captions.get("images/apple/1f34e.png"));
        assertEquals(List.of("waving hand sign, light skin tone", "wave, light skin tone", "raised hand wave, light skin tone"),
                captions.get("images/google/1f44b-1f3fb.png"));
        assertFalse(captions.containsKey("images/google/1f44b.png"), "google does not draw the toneless wave");
        assertFalse(captions.containsKey("images/apple/1f000.png"), "an emoji with no name has no caption, and is left out");
        assertEquals(List.of("rocket"), captions.get("images/google/1f680.png"));
        assertEquals("test", split.get("images/apple/1f680.png"));
        assertEquals("test", split.get("images/google/1f680.png"), "every style of a held-out emoji is held out");
        assertEquals("train", split.get("images/apple/1f34e.png"));
        assertEquals(new TreeSet<>(captions.keySet()), new TreeSet<>(ImageFolder.imageFiles(out)), "every picture has its rows");

        String licences = Files.readString(out.resolve("LICENSES.md"));
        assertTrue(licences.contains("apple: Apple images, Copyright © Apple Inc., are not licensed for commercial usage."), licences);
        assertTrue(licences.contains("google: Android/Google/Noto images are available under the Apache License 2.0"), licences);
        assertTrue(licences.contains("Copyright (c) 2013 Cal Henderson"), licences);
        assertFalse(licences.contains("twitter"), licences);

        try (var scope = new PointerScope()) {
            ImageFolder f = ImageFolder.open(out);
            ImageFolder.Split train = f.load(CaptionTable.TRAIN, f.conversion(3, 32), null);
            assertEquals(5, train.n());
            long[] apple = Ops.toLongs(train.images().select(0, train.files().indexOf("images/apple/1f34e.png")));
            assertEquals(255, apple[0], "corner: transparent on white");
            assertEquals(255, apple[16 * 32 + 16], "centre: red");
            assertEquals(0, apple[32 * 32 + 16 * 32 + 16], "centre: no green");
        }
    }

    @Test void aMissingTarballOrImageIsOneLineAndNothingIsWritten() throws IOException {
        Path from = Files.createDirectories(tmp.resolve("packs")), out = tmp.resolve("emoji");
        tarballs(from, "1f680.png");
        String line = CliRun.of("data", "emoji", "--from", from.toString(), "--out", out.toString(), "--styles", "apple,google").badInput();
        assertEquals("error: " + from.resolve("emoji-datasource-google-16.0.0.tgz") + ": no package/img/google/64/1f680.png, "
                + "which emoji.json says google draws", line);
        line = CliRun.of("data", "emoji", "--from", from.toString(), "--out", out.toString(), "--styles", "twitter").badInput();
        assertTrue(line.startsWith("error: --from " + from + ": no emoji-datasource-twitter-16.0.0.tgz (fetch it with: npm pack "
                + "emoji-datasource-twitter@16.0.0"), line);
        line = CliRun.of("data", "emoji", "--from", from.toString(), "--out", out.toString(), "--styles", "apple,lego").badInput();
        assertTrue(line.startsWith("error: --styles: unknown style 'lego'"), line);
        assertFalse(Files.exists(out));
        try (var s = Files.list(tmp)) { assertEquals(List.of(from), s.toList(), "no half-built folder is left"); }
    }

    @Test void withoutNpmItSaysSoAndHowToDoWithout() {
        var e = assertThrows(Add4jException.class, () -> NpmPackages.fetch(List.of("emoji-datasource"), "16.0.0",
                tmp.resolve("cache"), "add4j-test-no-such-npm", null));
        assertTrue(e.getMessage().startsWith("npm is not installed"), e.getMessage());
        assertTrue(e.getMessage().contains("pass --from DIR"), e.getMessage());
    }
}
