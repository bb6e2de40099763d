package dev.add4j.data;

import dev.add4j.Add4jException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A small emoji folder in the jar, {@code --data embedded-emoji}: the Google and Twitter pictures (the two styles
 * whose licences allow it: Apache 2.0 and CC BY 4.0) of {@link #TRAIN_KINDS} training and {@link #TEST_KINDS} held-out
 * emoji without skin tones, each kind in both styles, with their captions, so the emoji models' demo and tests run
 * with no download. A captioned folder needs a directory (its cache lives there), so the first use copies it out of
 * the jar into {@code ~/.cache/add4j/} ({@code XDG_CACHE_HOME} where set), once per content.
 * <p>Made from the full set by {@code java -cp ... dev.add4j.data.EmbeddedEmoji [FULL_DIR [OUT_DIR]]}.
 */
public final class EmbeddedEmoji {
    /** The {@code --data} value. */
    public static final String NAME = "embedded-emoji";
    /** Kinds of each split [choice]: both styles of each, about 3.5 MB of 64 px PNGs. */
    public static final int TRAIN_KINDS = 300, TEST_KINDS = 40;
    static final String RESOURCE = "/data/emoji-subset/", INDEX = "files.txt";
    static final List<String> STYLES = List.of("google", "twitter");

    private EmbeddedEmoji() {}

    public static void main(String[] args) throws IOException {
        Path full = Path.of(args.length > 0 ? args[0] : "data/emoji");
        Path out = Path.of(args.length > 1 ? args[1] : "src/main/resources/data/emoji-subset");
        int n = write(full, out);
        System.out.println("wrote " + n + " images of the emoji subset to " + out.toAbsolutePath());
    }

    /** Writes the subset of the full folder {@code fullDir} (made by {@code add4j data emoji}) to {@code outDir}; returns its images. */
    static int write(Path fullDir, Path outDir) throws IOException {
        ImageFolder full = ImageFolder.open(fullDir);
        // kind -> style -> file; kinds with both styles and no skin tone, in file order
        Map<String, Map<String, String>> kinds = new TreeMap<>();
        Map<String, String> split = new LinkedHashMap<>();
        Map<String, List<String>> captions = new LinkedHashMap<>();
        for (int i = 0; i < full.files().size(); i++) {
            String f = full.files().get(i);
            String[] parts = f.split("/");
            if (parts.length != 3 || !STYLES.contains(parts[1])) continue;
            List<String> caps = full.captionsOf(i);
            if (caps.stream().anyMatch(c -> c.contains("skin tone"))) continue;
            kinds.computeIfAbsent(parts[2], k -> new TreeMap<>()).put(parts[1], f);
            split.put(f, full.splitOf(i));
            captions.put(f, caps);
        }
        List<String> train = new ArrayList<>(), test = new ArrayList<>();
        kinds.forEach((kind, styles) -> {
            if (styles.size() != STYLES.size()) return;
            (split.get(styles.values().iterator().next()).equals(CaptionTable.TEST) ? test : train).add(kind);
        });
        java.util.Collections.shuffle(train, new Random(0));
        java.util.Collections.shuffle(test, new Random(1));
        List<CaptionTable.Row> rows = new ArrayList<>();
        List<String> files = new ArrayList<>();
        for (var pick : List.of(Map.entry(CaptionTable.TRAIN, train.subList(0, Math.min(TRAIN_KINDS, train.size()))),
                Map.entry(CaptionTable.TEST, test.subList(0, Math.min(TEST_KINDS, test.size())))))
            for (String kind : pick.getValue().stream().sorted().toList())
                for (String f : kinds.get(kind).values()) {
                    Files.createDirectories(outDir.resolve(f).getParent());
                    Files.copy(fullDir.resolve(f), outDir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                    for (String c : captions.get(f)) rows.add(new CaptionTable.Row(f, c, pick.getKey(), 0));
                    files.add(f);
                }
        CaptionTable.writeCsv(outDir.resolve(CaptionTable.CSV), rows);
        Files.writeString(outDir.resolve("LICENSES.md"), licences(Files.readString(fullDir.resolve("LICENSES.md"))));
        files.add(CaptionTable.CSV);
        files.add("LICENSES.md");
        Files.writeString(outDir.resolve(INDEX), String.join("\n", files) + "\n");
        return files.size() - 2;
    }

    /** The full set's LICENSES.md with the two embedded styles' lines only. */
    private static String licences(String full) {
        StringBuilder b = new StringBuilder();
        for (String line : full.split("\n", -1)) {
            if (line.startsWith("- ") && STYLES.stream().noneMatch(s -> line.startsWith("- " + s + ":"))) continue;
            b.append(line).append('\n');
        }
        return "The subset embedded in add4j (" + String.join(" and ", STYLES) + " only).\n\n" + b.toString().stripTrailing() + "\n";
    }

    /**
     * The subset as a directory: copied out of the jar on first use into the cache, under a name of its content's
     * hash, so a new subset never mixes with an old one.
     * @throws Add4jException when the jar has no subset or the cache cannot be written
     */
    public static Path dir() {
        String index = resource(INDEX);
        Path dir = cacheRoot().resolve("emoji-subset-" + sha256(index + resource(CaptionTable.CSV)).substring(0, 16));
        if (Files.isRegularFile(dir.resolve(INDEX))) return dir;
        try {
            Files.createDirectories(dir.getParent());
            Path tmp = Files.createTempDirectory(dir.getParent(), "emoji-subset-");
            for (String f : index.split("\n")) {
                if (f.isBlank()) continue;
                Path to = tmp.resolve(f);
                Files.createDirectories(to.getParent());
                try (InputStream in = stream(f)) { Files.copy(in, to); }
            }
            Files.writeString(tmp.resolve(INDEX), index);                     // last: marks a complete copy
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (!Files.isRegularFile(dir.resolve(INDEX))) throw e;         // else another process copied it first
                deleteTree(tmp);
            }
            return dir;
        } catch (IOException e) {
            throw new Add4jException("--data " + NAME + ": cannot copy the embedded emoji into " + dir + " (" + e.getMessage() + ")", e);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (var s = Files.walk(root)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache")).resolve("add4j");
    }

    private static InputStream stream(String name) {
        InputStream in = EmbeddedEmoji.class.getResourceAsStream(RESOURCE + name);
        if (in == null) throw new Add4jException("--data " + NAME + ": this build has no embedded emoji (" + RESOURCE + name + ")");
        return in;
    }

    private static String resource(String name) {
        try (InputStream in = stream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
