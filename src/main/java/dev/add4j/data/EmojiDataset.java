package dev.add4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.add4j.Add4jException;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.GZIPInputStream;

/**
 * The emoji image sets of {@code emoji-datasource} 16.0.0 on npm as a captioned image folder: one 64 px PNG per
 * emoji and skin tone in each style ({@code images/STYLE/CODE.png}, about 3,700 per style), captions from
 * {@code emoji.json} (the Unicode name, "red apple", and each short name, "apple", with the skin tone where there is
 * one), a {@code test} split of about one emoji in 20 (all its styles and tones, chosen by a hash of its code point,
 * so it is the same on every machine), and the images' licences in {@code LICENSES.md}.
 */
public final class EmojiDataset {
    public static final String VERSION = "16.0.0";
    public static final String DATA_PACKAGE = "emoji-datasource";
    public static final List<String> STYLES = List.of("apple", "google", "twitter", "facebook");
    /** One emoji in this many is held out (by a CRC-32 of its code point): [choice] about 5 %, ~95 emoji. */
    static final int TEST_ONE_IN = 20;
    static final String PIXELS = "64";

    /**
     * Each style's image licence as {@code emoji-datasource}'s README (16.0.0, "Image Sources") states it; the
     * package itself (code and emoji.json) is MIT.
     */
    static final Map<String, String> IMAGE_LICENCES = Map.of(
            "apple", "Apple images, Copyright © Apple Inc., are not licensed for commercial usage.",
            "google", "Android/Google/Noto images are available under the Apache License 2.0 (https://github.com/googlei18n/noto-emoji/blob/master/LICENSE).",
            "twitter", "Twitter images are available under the Creative Commons Attribution 4.0 license (https://github.com/jdecked/twemoji/blob/v15.0.2/LICENSE-GRAPHICS).",
            "facebook", "Facebook images, © Facebook, Inc., have no clear licensing.");

    /** Skin-tone modifiers as emoji.json keys them. */
    private static final Map<String, String> TONES = Map.of("1F3FB", "light skin tone", "1F3FC", "medium-light skin tone",
            "1F3FD", "medium skin tone", "1F3FE", "medium-dark skin tone", "1F3FF", "dark skin tone");

    /** One picture to take: its file name in the packages, its captions, its split, the styles that draw it. */
    record Picture(String emoji, String image, List<String> captions, String split, Set<String> styles) {}

    /** What {@link #build} wrote. */
    public record Summary(int images, int emoji, int train, int test) {}

    private EmojiDataset() {}

    /** The npm packages a build of {@code styles} reads: the data package, then one per style. */
    public static List<String> packages(List<String> styles) {
        List<String> out = new ArrayList<>(List.of(DATA_PACKAGE));
        for (String s : styles) out.add(DATA_PACKAGE + "-" + s);
        return out;
    }

    /** Checks a comma list of styles: known, no repeats, in the order given. */
    public static List<String> styles(String list) {
        List<String> out = new ArrayList<>();
        for (String s : list.split(",")) {
            String t = s.strip().toLowerCase(Locale.ROOT);
            if (!STYLES.contains(t)) throw new Add4jException("--styles: unknown style '" + s + "'; the styles are " + String.join(", ", STYLES));
            if (out.contains(t)) throw new Add4jException("--styles: '" + t + "' twice");
            out.add(t);
        }
        return out;
    }

    /**
     * Builds the folder in {@code out} (which must not exist, or be empty) from the tarballs: {@code data} of
     * {@code emoji-datasource}, {@code styleTarballs} of each style in order. Everything is read and checked first;
     * the folder is written in a sibling directory and renamed into place, so a failure leaves nothing behind.
     */
    public static Summary build(Path data, List<String> styles, List<Path> styleTarballs, Path out) {
        List<Picture> pictures = pictures(readEmojiJson(data), styles);
        Map<String, Map<String, byte[]>> images = new LinkedHashMap<>();            // style -> image -> bytes
        for (int i = 0; i < styles.size(); i++) images.put(styles.get(i), readImages(styleTarballs.get(i), styles.get(i), pictures));
        String licence = readEntry(data, "package/LICENSE");

        List<CaptionTable.Row> rows = new ArrayList<>();
        int train = 0, test = 0;
        for (String style : styles)
            for (Picture p : pictures) {
                if (!p.styles().contains(style)) continue;
                String file = "images/" + style + "/" + p.image();
                for (String c : p.captions()) rows.add(new CaptionTable.Row(file, c, p.split(), 0));
                if (p.split().equals(CaptionTable.TEST)) test++; else train++;
            }
        Path tmp = out.toAbsolutePath().resolveSibling("." + out.getFileName() + ".building");
        try {
            deleteTree(tmp);
            for (var e : images.entrySet())
                for (var img : e.getValue().entrySet()) {
                    Path f = tmp.resolve("images").resolve(e.getKey()).resolve(img.getKey());
                    Files.createDirectories(f.getParent());
                    Files.write(f, img.getValue());
                }
            CaptionTable.writeCsv(tmp.resolve(CaptionTable.CSV), rows);
            Files.writeString(tmp.resolve("LICENSES.md"), licences(styles, licence));
            if (Files.isDirectory(out)) Files.delete(out); // empty, as the command checked
            Files.move(tmp, out);
        } catch (IOException e) {
            try { deleteTree(tmp); } catch (IOException ignored) { /* the first error is the one to report */ }
            throw new Add4jException(out + ": cannot write (" + e.getMessage() + ")", e);
        }
        long emoji = pictures.stream().map(Picture::emoji).distinct().count();
        return new Summary(train + test, (int) emoji, train, test);
    }

    /** The pictures emoji.json lists, skin tones included, with captions and split; only those some style draws. */
    static List<Picture> pictures(JsonNode emojiJson, List<String> styles) {
        List<Picture> out = new ArrayList<>();
        for (JsonNode e : emojiJson) {
            String unified = text(e, "unified"), name = text(e, "name");
            List<String> names = new ArrayList<>();
            if (!name.isBlank()) names.add(name.toLowerCase(Locale.ROOT));
            for (JsonNode s : e.path("short_names")) // "flag-us", "raised_hands" read as words; "+1" and "-1" stay
                names.add(s.asText().replace('_', ' ').replaceAll("(?<=\\p{L})-(?=\\p{L})", " ").strip());
            List<String> captions = List.copyOf(new LinkedHashSet<>(names.stream().filter(n -> !n.isBlank()).toList()));
            if (captions.isEmpty()) continue;                                   // nothing to caption it with
            String split = testSplit(unified) ? CaptionTable.TEST : CaptionTable.TRAIN;
            add(out, unified, e, captions, split, styles);
            for (var tone : e.path("skin_variations").properties()) {
                String words = String.join(", ", Stream.of(tone.getKey().split("-")).map(t -> TONES.getOrDefault(t, t)).toList());
                add(out, unified, tone.getValue(), captions.stream().map(c -> c + ", " + words).toList(), split, styles);
            }
        }
        out.sort(Comparator.comparing(Picture::image));
        return out;
    }

    private static void add(List<Picture> out, String emoji, JsonNode e, List<String> captions, String split, List<String> styles) {
        Set<String> drawn = new LinkedHashSet<>();
        for (String s : styles) if (e.path("has_img_" + s).asBoolean(false)) drawn.add(s);
        String image = text(e, "image");
        if (!drawn.isEmpty() && !image.isBlank()) out.add(new Picture(emoji, image, captions, split, drawn));
    }

    /** The held-out emoji: a CRC-32 of the code point sequence, one in {@link #TEST_ONE_IN}. */
    static boolean testSplit(String unified) {
        CRC32 crc = new CRC32();
        crc.update(unified.getBytes(StandardCharsets.US_ASCII));
        return crc.getValue() % TEST_ONE_IN == 0;
    }

    private static JsonNode readEmojiJson(Path data) {
        String json = readEntry(data, "package/emoji.json");
        try {
            JsonNode root = new ObjectMapper().readTree(json);
            if (!root.isArray() || root.isEmpty()) throw new Add4jException(data + ": package/emoji.json is not a list of emoji");
            return root;
        } catch (IOException e) {
            throw new Add4jException(data + ": package/emoji.json is not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
    }

    /** One text file of a tarball. */
    private static String readEntry(Path tgz, String name) {
        try (TarArchiveInputStream tar = open(tgz)) {
            for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; )
                if (e.getName().equals(name)) return new String(tar.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Add4jException(tgz + ": not a readable npm tarball (" + e.getMessage() + ")", e);
        }
        throw new Add4jException(tgz + ": no " + name + "; is it " + DATA_PACKAGE + "@" + VERSION + "?");
    }

    /** The {@value #PIXELS} px PNGs of {@code style} that {@code pictures} need, in one pass over the tarball. */
    private static Map<String, byte[]> readImages(Path tgz, String style, List<Picture> pictures) {
        Set<String> wanted = new LinkedHashSet<>();
        for (Picture p : pictures) if (p.styles().contains(style)) wanted.add(p.image());
        String prefix = "package/img/" + style + "/" + PIXELS + "/";
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (TarArchiveInputStream tar = open(tgz)) {
            for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                if (!e.getName().startsWith(prefix)) continue;
                String image = e.getName().substring(prefix.length());
                if (wanted.contains(image)) out.put(image, tar.readAllBytes());
            }
        } catch (IOException e) {
            throw new Add4jException(tgz + ": not a readable npm tarball (" + e.getMessage() + ")", e);
        }
        for (String w : wanted)
            if (!out.containsKey(w)) throw new Add4jException(tgz + ": no " + prefix + w + ", which emoji.json says " + style + " draws");
        return out;
    }

    private static TarArchiveInputStream open(Path tgz) throws IOException {
        InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(tgz), 1 << 16), 1 << 16);
        return new TarArchiveInputStream(in);
    }

    private static String text(JsonNode e, String field) { return e.path(field).isTextual() ? e.path(field).asText() : ""; }

    private static String licences(List<String> styles, String packageLicence) {
        StringBuilder b = new StringBuilder("# Licences\n\nImages from the npm packages emoji-datasource-STYLE@" + VERSION
                + " (images/STYLE/), names from emoji-datasource@" + VERSION + " (captions.csv). Each style's image licence, as "
                + "emoji-datasource's README states it:\n\n");
        for (String s : styles) b.append("- ").append(s).append(": ").append(IMAGE_LICENCES.get(s)).append('\n');
        b.append("\nThe emoji-datasource packages themselves (code and emoji.json):\n\n```\n").append(packageLicence.strip()).append("\n```\n");
        return b.toString();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
