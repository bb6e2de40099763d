package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.data.CaptionClasses;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.ImageFolder;
import dev.add4j.data.TrainingData;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The real images the eval net learns from and the metrics compare with: a Fashion-MNIST split, or a split of a
 * captioned folder converted to the models' shape. The eval code reads both through this one view, so a folder
 * takes the same path as Fashion-MNIST and Fashion-MNIST's numbers stay as they were.
 *
 * <p>A folder has no labels; where its first captions can be classes ({@link CaptionClasses}, decided on the
 * training split and carried by the eval net) an image's class is its first caption's, -1 where that caption is not
 * one of them (a test caption no training image has).
 */
public sealed interface EvalImages {
    int n();
    int channels();
    int size();
    /** The images at {@code idx} as float32 in [-1,1] on the CPU, owned by the caller's scope. -> [b,C,S,S] */
    Tensor images(int[] idx);
    /** Each image's class (-1: none of the classes); null when the data has no classes at all. */
    int[] labels();
    /** The class names, index = class; empty when the data has no classes. */
    List<String> classNames();
    /** Each image's captions, in order: Fashion-MNIST's are its class's ({@link Captions}), a folder's its own rows. */
    List<String> captionsOf(int image);
    /** SHA-256 of the images and what they are labelled with, hex: part of the reference statistics' cache key. */
    String sha256();
    /** What the images are, for messages and reports. */
    String describe();

    /**
     * Positions of a fixed seeded choice of {@code count} images (fewer where the data has fewer): Fashion-MNIST's
     * class-balanced ({@link Reference#classBalanced}), a folder's a seeded shuffle. The metrics' real feature set
     * and, for a folder, the captions its prompts are drawn from.
     */
    int[] subset(int count, long seed);

    default boolean hasClasses() { return !classNames().isEmpty(); }

    /**
     * The training and test splits an eval net learns from and is measured on.
     * @param classesLeftOut why the images have no classes (null: they have)
     */
    record Splits(EvalImages train, EvalImages test, String classesLeftOut) {}

    /**
     * Loads {@code --data} for an eval net of {@code channels} x {@code size} px: Fashion-MNIST's two splits, or a
     * folder's converted (announced on {@code log}) with its first captions as classes where {@link CaptionClasses}
     * finds them usable on the training split.
     * @throws Add4jException for bad data, in one line naming the file
     */
    public static Splits load(String option, int channels, int size, PrintStream log) {
        if (!ImageFolder.isFolder(option)) {
            TrainingData.shape(option, channels, size);                                   // Fashion-MNIST is 1 x 32 px
            return new Splits(of(FashionMnist.load(option, true)), of(FashionMnist.load(option, false)), null);
        }
        ImageFolder f = ImageFolder.ofOption(option);
        var conversion = f.conversion(channels, size);
        ImageFolder.Split train = f.load(CaptionTable.TRAIN, conversion, log), test = f.load(CaptionTable.TEST, conversion, log);
        CaptionClasses classes = CaptionClasses.of(train);
        boolean usable = classes.usable(train.n());
        CaptionClasses kept = usable ? classes : null;
        return new Splits(of(train, kept), of(test, kept), usable ? null : classes.whyNot(train.n()));
    }

    /**
     * A folder's test split for evaluating a model of {@code channels} x {@code size} px with an eval net whose
     * classes are {@code classNames} (empty: none), so an image's class is the one the net knows by that caption.
     */
    public static EvalImages folderTest(ImageFolder folder, int channels, int size, List<String> classNames, PrintStream log) {
        ImageFolder.Split test = folder.load(CaptionTable.TEST, folder.conversion(channels, size), log);
        return of(test, classNames.isEmpty() ? null : new CaptionClasses(classNames));
    }

    /** A Fashion-MNIST split: 1 x 32 px, its ten classes. */
    static EvalImages of(FashionMnist.Split split) { return new Fashion(split); }

    /** A folder's split; {@code classes} null where its captions are not classes. */
    static EvalImages of(ImageFolder.Split split, CaptionClasses classes) { return new Folder(split, classes); }

    record Fashion(FashionMnist.Split split) implements EvalImages {
        @Override public int n() { return split.n(); }
        @Override public int channels() { return 1; }
        @Override public int size() { return FashionMnist.PADDED; }
        @Override public Tensor images(int[] idx) { return FashionMnist.images(split, idx); }
        @Override public int[] labels() { return split.labels(); }
        @Override public List<String> classNames() { return Captions.CLASS_NAMES; }
        @Override public List<String> captionsOf(int image) { return Captions.all(split.labels()[image]); }
        @Override public String sha256() { return Reference.dataSha256(split); }
        @Override public String describe() { return "Fashion-MNIST (" + split.n() + " images)"; }
        @Override public int[] subset(int count, long seed) {
            return Reference.classBalanced(split.labels(), count / FashionMnist.CLASSES, seed);
        }
    }

    record Folder(ImageFolder.Split split, CaptionClasses classes) implements EvalImages {
        @Override public int n() { return split.n(); }
        @Override public int channels() { return (int) split.images().size(1); }
        @Override public int size() { return (int) split.images().size(2); }
        @Override public Tensor images(int[] idx) {
            long[] rows = IntStream.of(idx).asLongStream().toArray();
            Tensor u8 = split.images().index_select(0, Ops.fromLongs(rows, rows.length));            // [b,C,S,S] uint8
            return u8.to(torch.ScalarType.Float).div(Ops.s(127.5)).sub(Ops.s(1.0));                   // [b,C,S,S] in [-1,1]
        }
        @Override public int[] labels() { return classes == null ? null : classes.labels(split); }
        @Override public List<String> classNames() { return classes == null ? List.of() : classes.names(); }
        @Override public List<String> captionsOf(int image) { return split.captions().get(image); }
        @Override public String describe() { return split.describe(); }

        /** Over the converted pixels, the captions of each image and the class names. */
        @Override public String sha256() {
            MessageDigest md;
            try {
                md = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
            }
            md.update(ByteBuffer.allocate(4).putInt(n()).array());
            try (var scope = new PointerScope()) {
                Tensor u8 = split.images().contiguous();                                            // [N,C,S,S] uint8, CPU
                md.update(new BytePointer(u8.data_ptr()).capacity(u8.numel()).asByteBuffer());
            }
            for (List<String> caps : split.captions()) md.update((String.join("\n", caps) + "\n\n").getBytes(StandardCharsets.UTF_8));
            md.update(String.join("\n", classNames()).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        }

        @Override public int[] subset(int count, long seed) {
            List<Integer> order = new ArrayList<>(IntStream.range(0, n()).boxed().toList());
            Collections.shuffle(order, new Random(seed));
            return order.subList(0, Math.min(count, n())).stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
