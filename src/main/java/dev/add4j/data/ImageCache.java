package dev.add4j.data;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A folder's images after {@link ImageConversion}, all splits in one safetensors file inside the folder
 * ({@code .add4j-cache/images-c1-32px-crop-ffffff.safetensors}): {@code images} uint8 [N,C,S,S] in the folder's file
 * order, and in its metadata the format version, the conversion and a key, the SHA-256 of the format, the conversion
 * and every image's path and bytes. A cache whose key differs (a file added, removed, renamed or changed; another
 * format) is rebuilt; other conversions have files of their own.
 */
final class ImageCache {
    /** Raised when what is stored or how it is converted changes, so every older cache is rebuilt. */
    static final int FORMAT = 1;
    static final String FORMAT_KEY = "add4j.image_cache_format", KEY = "add4j.image_cache_key",
            CONVERSION = "add4j.conversion", COUNT = "add4j.images";

    private ImageCache() {}

    /** The cache file of {@code conversion} in {@code folder}. */
    static Path file(Path folder, ImageConversion conversion) {
        return folder.resolve(ImageFolder.CACHE_DIR).resolve("images-" + conversion.key() + ".safetensors");
    }

    /**
     * All of the folder's images as uint8 [N,C,S,S] on the CPU: read from the cache when its key matches, else
     * decoded, converted and written to it. If the cache cannot be written (a read-only folder), says so and goes on.
     */
    static Tensor load(ImageFolder folder, ImageConversion conversion, PrintStream log) {
        List<String> files = folder.files();
        byte[][] bytes = new byte[files.size()][];
        for (int i = 0; i < bytes.length; i++) bytes[i] = read(folder.dir().resolve(files.get(i)));
        String key = key(files, bytes, conversion);
        Path cache = file(folder.dir(), conversion);
        Tensor cached = readIfCurrent(cache, key, files.size(), conversion);
        if (cached != null) return cached;

        if (log != null) log.printf("converting %d images of %s to %s (cached in %s)%n", files.size(), folder.dir(), conversion.key(), cache);
        Tensor images = conversion.toChannels(convert(folder.dir(), files, bytes, conversion));     // [N,C,S,S] uint8
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(FORMAT_KEY, Integer.toString(FORMAT));
        meta.put(KEY, key);
        meta.put(CONVERSION, Json.compact(Map.of("channels", conversion.channels(), "size", conversion.size(),
                "fit", conversion.fit().cliName(), "background", conversion.backgroundHex(), "filter", "lanczos")));
        meta.put(COUNT, Integer.toString(files.size()));
        try {
            SafeTensors.write(cache, Map.of("images", images), meta, SafeTensors.Dtype.F32);
        } catch (Add4jException e) { // the images are converted and good; only the next run pays again
            System.err.println("note: " + e.getMessage() + "; the converted images are not cached");
        }
        return images;
    }

    /** The cached images, or null when there is no cache of this key (missing, older, of other files, unreadable). */
    private static Tensor readIfCurrent(Path cache, String key, int n, ImageConversion c) {
        if (!Files.isRegularFile(cache)) return null;
        SafeTensors.Contents contents;
        try {
            contents = SafeTensors.read(cache);
        } catch (Add4jException e) {
            return null; // a damaged cache is rebuilt like a stale one
        }
        Tensor images = contents.tensors().get("images");
        if (!key.equals(contents.metadata().get(KEY)) || !Integer.toString(FORMAT).equals(contents.metadata().get(FORMAT_KEY))
                || images == null || images.scalar_type().intern() != torch.ScalarType.Byte
                || !Arrays.equals(Ops.shape(images), new long[]{n, c.channels(), c.size(), c.size()}))
            return null;
        return images;
    }

    /** Decodes and converts every image (in parallel: a folder is converted once); the first bad file, in order, is named. */
    private static Tensor convert(Path dir, List<String> files, byte[][] bytes, ImageConversion c) {
        int plane = 3 * c.size() * c.size();
        byte[] rgb = new byte[files.size() * plane];
        String[] errors = new String[files.size()];
        IntStream.range(0, files.size()).parallel().forEach(i -> {
            try {
                BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes[i]));
                if (img == null) errors[i] = "not a PNG or JPEG that can be decoded";
                else c.planes(c.square(img), rgb, i * plane);
            } catch (IOException | RuntimeException e) {
                errors[i] = "not a PNG or JPEG that can be decoded (" + e.getMessage() + ")";
            }
        });
        for (int i = 0; i < errors.length; i++)
            if (errors[i] != null) throw new Add4jException(dir.resolve(files.get(i)) + ": " + errors[i]);
        try (BytePointer p = new BytePointer(rgb)) {
            return torch.from_blob(p, new long[]{files.size(), 3, c.size(), c.size()}, new TensorOptions(torch.ScalarType.Byte)).clone(); // [N,3,S,S]
        }
    }

    /** SHA-256 of the format, the conversion, and each file's path and bytes, in order. */
    static String key(List<String> files, byte[][] bytes, ImageConversion c) {
        try {
            MessageDigest all = MessageDigest.getInstance("SHA-256");
            all.update(("add4j image cache " + FORMAT + "\n" + c.key() + " lanczos\n").getBytes(StandardCharsets.UTF_8));
            for (int i = 0; i < files.size(); i++) {
                all.update((files.get(i) + "\n").getBytes(StandardCharsets.UTF_8));
                all.update(MessageDigest.getInstance("SHA-256").digest(bytes[i]));
            }
            return HexFormat.of().formatHex(all.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }
}
