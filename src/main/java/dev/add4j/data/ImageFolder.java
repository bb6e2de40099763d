package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * A captioned image folder, the {@code --data DIR} of a user's own images: PNG and JPEG files anywhere below DIR
 * (names starting with '.' are skipped, so is the cache) and one {@link CaptionTable} ({@code captions.csv} or
 * {@code captions.jsonl}). Every image needs at least one row and every row an image; a file may have several rows,
 * one caption each (training draws one), all in one split. Pictures of any size are converted once
 * ({@link ImageConversion}) and kept in {@link ImageCache}, so training never decodes an image.
 *
 * <p>An optional {@code add4j.json} states the conversion: {@code {"fit": "crop"|"pad", "background": "#rrggbb"}}
 * (default: crop, white).
 */
public final class ImageFolder {
    /** The folder's optional conversion settings. */
    public static final String SETTINGS = "add4j.json";
    /** Where the folder's caches live, inside it. */
    public static final String CACHE_DIR = ".add4j-cache";

    private final Path dir, table;
    private final List<String> files;              // relative paths with '/', sorted: the cache's order
    private final List<List<String>> captions;     // per file, in table order, no repeats
    private final List<String> splitOf;            // per file
    private final ImageConversion.Fit fit;
    private final int background;

    private ImageFolder(Path dir, Path table, List<String> files, List<List<String>> captions, List<String> splitOf,
                        ImageConversion.Fit fit, int background) {
        this.dir = dir;
        this.table = table;
        this.files = files;
        this.captions = captions;
        this.splitOf = splitOf;
        this.fit = fit;
        this.background = background;
    }

    /** True when a {@code --data} value names a directory with a caption table (not Fashion-MNIST's IDX files). */
    public static boolean isFolder(String dataOption) {
        if (EmbeddedEmoji.NAME.equals(dataOption)) return true;
        if (dataOption == null || dataOption.equals(FashionMnist.EMBEDDED)) return false;
        Path d = Path.of(dataOption);
        return Files.isRegularFile(d.resolve(CaptionTable.CSV)) || Files.isRegularFile(d.resolve(CaptionTable.JSONL));
    }

    /**
     * Reads the caption table and checks it against the folder's files; decodes nothing.
     * @throws Add4jException one line naming the file: no or two tables, a bad row, a row whose image is missing,
     *         an image with no row, a file in two splits, bad settings
     */
    public static ImageFolder open(Path dir) {
        if (!Files.isDirectory(dir)) throw new Add4jException(dir + ": no such directory");
        Path csv = dir.resolve(CaptionTable.CSV), jsonl = dir.resolve(CaptionTable.JSONL);
        if (Files.exists(csv) && Files.exists(jsonl))
            throw new Add4jException(dir + ": both " + CaptionTable.CSV + " and " + CaptionTable.JSONL + "; keep one caption table");
        Path table = Files.exists(csv) ? csv : jsonl;
        if (!Files.isRegularFile(table))
            throw new Add4jException(dir + ": no " + CaptionTable.CSV + " or " + CaptionTable.JSONL + " (rows of file,caption[,split])");
        Settings settings = settings(dir.resolve(SETTINGS));

        Map<String, List<String>> byFile = new TreeMap<>();       // sorted by path: the cache's order
        Map<String, String> split = new LinkedHashMap<>();
        for (CaptionTable.Row r : CaptionTable.read(table)) {
            String at = table + " line " + r.line() + ": ";
            if (!isImageName(r.file())) throw new Add4jException(at + "'" + r.file() + "' is not a .png, .jpg or .jpeg file");
            if (!byFile.containsKey(r.file()) && !Files.isRegularFile(dir.resolve(r.file())))
                throw new Add4jException(at + "caption for '" + r.file() + "', but there is no such file in " + dir);
            String before = split.putIfAbsent(r.file(), r.split());
            if (before != null && !before.equals(r.split()))
                throw new Add4jException(at + "'" + r.file() + "' is in split " + r.split() + " here and " + before + " in an earlier row");
            List<String> mine = byFile.computeIfAbsent(r.file(), k -> new ArrayList<>());
            if (!mine.contains(r.caption())) mine.add(r.caption());
        }
        for (String f : imageFiles(dir))
            if (!byFile.containsKey(f))
                throw new Add4jException(dir.resolve(f) + ": no caption; add a row for it to " + table.getFileName() + " (or move it out of " + dir + ")");
        List<String> files = List.copyOf(byFile.keySet());
        List<List<String>> caps = files.stream().map(f -> List.copyOf(byFile.get(f))).toList();
        List<String> splits = files.stream().map(split::get).toList();
        return new ImageFolder(dir, table, files, caps, splits, settings.fit(), settings.background());
    }

    /** The folder a {@code --data} value names: a directory, or {@code embedded-emoji} (copied out of the jar once). */
    public static ImageFolder ofOption(String dataOption) {
        return open(EmbeddedEmoji.NAME.equals(dataOption) ? EmbeddedEmoji.dir() : Path.of(dataOption));
    }

    /** Image {@code i}'s captions, in table order. */
    public List<String> captionsOf(int i) { return captions.get(i); }
    /** Image {@code i}'s split. */
    public String splitOf(int i) { return splitOf.get(i); }

    /** Images (relative paths), in cache order. */
    public List<String> files() { return files; }
    public Path dir() { return dir; }
    /** The conversion of this folder for a model of {@code channels} channels and {@code size} px. */
    public ImageConversion conversion(int channels, int size) { return new ImageConversion(channels, size, fit, background); }

    /**
     * Up to {@code k} prompts the data covers, for a page's examples: distinct captions of {@code split}'s images, a
     * seeded choice of them in a fixed order.
     */
    public List<String> exampleCaptions(String split, int k, long seed) {
        List<String> all = new ArrayList<>(new java.util.LinkedHashSet<>(IntStream.range(0, files.size())
                .filter(i -> splitOf.get(i).equals(split)).boxed().flatMap(i -> captions.get(i).stream()).toList()));
        java.util.Collections.shuffle(all, new java.util.Random(seed));
        return List.copyOf(all.subList(0, Math.min(k, all.size())));
    }

    /** How many images each split holds, "train 180, test 20". */
    public String splitCounts() {
        Map<String, Integer> n = new LinkedHashMap<>();
        for (String s : CaptionTable.SPLITS) n.put(s, 0);
        for (String s : splitOf) n.merge(s, 1, Integer::sum);
        return String.join(", ", n.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList());
    }

    /**
     * One split, converted (from the cache when it is current, else converted and cached for next time).
     * @param log where a line says that images are being converted (null: silent)
     * @throws Add4jException for a split with no image, or an image that cannot be decoded (naming it); nothing is
     *         written then
     */
    public Split load(String split, ImageConversion conversion, PrintStream log) {
        int[] idx = IntStream.range(0, files.size()).filter(i -> splitOf.get(i).equals(split)).toArray();
        if (idx.length == 0)
            throw new Add4jException(table + ": no image in split '" + split + "' (" + splitCounts() + ")");
        Tensor all = ImageCache.load(this, conversion, log);                                         // [N,C,S,S] uint8
        long[] rows = IntStream.of(idx).asLongStream().toArray();
        Tensor images = torch.index_select(all, 0, Ops.fromLongs(rows, rows.length));               // [n,C,S,S] uint8
        List<String> names = IntStream.of(idx).mapToObj(files::get).toList();
        List<List<String>> caps = IntStream.of(idx).mapToObj(captions::get).toList();
        return new Split(dir, split, names, images, caps);
    }

    /**
     * One split of a folder: its images as uint8 [n,C,S,S] on the CPU (belonging to the caller's scope) and each
     * image's captions.
     */
    public record Split(Path dir, String name, List<String> files, Tensor images, List<List<String>> captions) {
        public int n() { return files.size(); }
        /** The default cache of this split's caption embeddings, in the folder's cache directory. */
        public Path captionCache() { return dir.resolve(CACHE_DIR).resolve("captions-" + name + "-minilm.safetensors"); }
        /** "captioned folder data/mine (train: 180 images, 37 captions)". */
        public String describe() {
            long distinct = captions.stream().flatMap(List::stream).distinct().count();
            return "captioned folder " + dir + " (" + name + ": " + n() + " images, " + distinct + " captions)";
        }
    }

    /** The folder's conversion settings, as add4j.json holds them. */
    private record SettingsFile(String fit, String background) {}
    private record Settings(ImageConversion.Fit fit, int background) {}

    private static Settings settings(Path file) {
        if (!Files.exists(file)) return new Settings(ImageConversion.Fit.CROP, ImageConversion.WHITE);
        String json;
        try {
            json = Files.readString(file);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        SettingsFile s = Json.readStrictOptional(json, file.toString(), SettingsFile.class);
        try {
            return new Settings(s.fit() == null ? ImageConversion.Fit.CROP : ImageConversion.Fit.parse(s.fit()),
                    s.background() == null ? ImageConversion.WHITE : ImageConversion.parseBackground(s.background()));
        } catch (Add4jException e) {
            throw new Add4jException(file + ": " + e.getMessage());
        }
    }

    static boolean isImageName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /** The .png/.jpg/.jpeg files below {@code dir} as sorted relative paths with '/'; hidden names are skipped. */
    static List<String> imageFiles(Path dir) {
        Set<String> out = new LinkedHashSet<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.filter(p -> !p.equals(dir))
                    .filter(p -> { for (Path part : dir.relativize(p)) if (part.toString().startsWith(".")) return false; return true; })
                    .filter(Files::isRegularFile)
                    .map(p -> dir.relativize(p).toString().replace('\\', '/'))
                    .filter(ImageFolder::isImageName)
                    .sorted()
                    .forEach(out::add);
        } catch (IOException e) {
            throw new Add4jException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
        return List.copyOf(out);
    }
}
