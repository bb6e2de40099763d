package dev.add4j.data;

import dev.add4j.Add4jException;
import org.bytedeco.pytorch.Device;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * The images a {@code --data} value names, loaded and checked before a command writes anything: Fashion-MNIST
 * (a directory of IDX files, {@code embedded}, or the default search), or a captioned {@link ImageFolder}, converted
 * to the model's channels and size. {@link #captioned} puts them on the training device with their captions.
 */
public final class TrainingData {
    private final String option;
    private final FashionMnist.Split fashion;     // null for a folder
    private final ImageFolder.Split folder;       // null for Fashion-MNIST

    private TrainingData(String option, FashionMnist.Split fashion, ImageFolder.Split folder) {
        this.option = option;
        this.fashion = fashion;
        this.folder = folder;
    }

    /** Channels and side of a model's images. */
    public record Shape(int channels, int size) {}

    /**
     * The shape a new model for {@code option}'s data takes: Fashion-MNIST is 1 x 32 px; a captioned folder is
     * converted to {@code channels} (1 or 3; null: 3, its colours) and {@code size} (null: 32).
     * @throws Add4jException for a channel count other than 1 or 3, a size outside 8..256, or Fashion-MNIST at another shape
     */
    public static Shape shape(String option, Integer channels, Integer size) {
        boolean folder = ImageFolder.isFolder(option);
        Shape s = new Shape(channels != null ? channels : folder ? 3 : 1, size != null ? size : FashionMnist.PADDED);
        if (s.channels() != 1 && s.channels() != 3) throw new Add4jException("--channels: expected 1 or 3, got " + s.channels());
        if (s.size() < 8 || s.size() > 256) throw new Add4jException("--image-size: expected 8..256 pixels, got " + s.size());
        if (!folder && (s.channels() != 1 || s.size() != FashionMnist.PADDED))
            throw new Add4jException("--data " + (option == null ? "(default)" : option) + ": Fashion-MNIST is 1 channel at "
                    + FashionMnist.PADDED + " px; --channels and --image-size are for a captioned folder");
        return s;
    }

    /**
     * Loads one split ({@link CaptionTable#TRAIN} or {@link CaptionTable#TEST}) for a model of {@code channels}
     * channels and {@code size} px.
     * @param log where a folder's one-time conversion is announced
     * @throws Add4jException for bad data (one line naming the file), or Fashion-MNIST for a model it cannot feed
     */
    public static TrainingData load(String option, String split, int channels, int size, PrintStream log) {
        if (ImageFolder.isFolder(option)) {
            ImageFolder f = ImageFolder.ofOption(option);
            return new TrainingData(option, null, f.load(split, f.conversion(channels, size), log));
        }
        if (channels != 1 || size != FashionMnist.PADDED)
            throw new Add4jException("--data " + (option == null ? "(default)" : option) + ": Fashion-MNIST is 1 channel at "
                    + FashionMnist.PADDED + " px; the model takes " + channels + " at " + size + " px");
        return new TrainingData(option, FashionMnist.load(option, split.equals(CaptionTable.TRAIN)), null);
    }

    /** The images on {@code device} with their captions' embeddings ({@code captionCache}: see {@link CaptionedImages}). */
    public CaptionedImages captioned(Path captionCache, Device device) {
        return fashion != null ? new CaptionedImages(fashion, captionCache, device) : new CaptionedImages(folder, captionCache, device);
    }

    /** True for Fashion-MNIST: the images have class labels, so class metrics and class groups exist. */
    public boolean hasClasses() { return fashion != null; }

    public int size() { return fashion != null ? fashion.n() : folder.n(); }

    /** The Fashion-MNIST split, for the code that needs its classes; null for a folder. */
    public FashionMnist.Split fashionMnist() { return fashion; }

    /** What provenance records: "embedded (4000 images)", "captioned folder DIR (train: 180 images, 37 captions)". */
    public String describe() {
        return fashion != null ? (option == null ? "default" : option) + " (" + fashion.n() + " images)" : folder.describe();
    }
}
