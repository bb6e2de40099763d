package dev.add4j.eval;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.ImageFolder;
import dev.add4j.text.TextEncoder;
import org.bytedeco.pytorch.Device;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * What a model is measured against for a {@code --data} value, in one place for eval, distill's in-training
 * evaluation and the demo: Fashion-MNIST's test split with class-balanced prompts, or a captioned folder's test split
 * converted to the eval net's shape, with prompts drawn from its captions.
 */
public final class TestData {
    private final String option;
    private final FashionMnist.Split fashion;   // null for a folder
    private final ImageFolder folder;           // null for Fashion-MNIST

    private TestData(String option, FashionMnist.Split fashion, ImageFolder folder) {
        this.option = option;
        this.fashion = fashion;
        this.folder = folder;
    }

    /**
     * Reads Fashion-MNIST's test split, or checks a folder's caption table (its pictures are converted by
     * {@link #setup}, once the eval net's shape is known), so bad data fails before anything is computed.
     * @throws Add4jException for bad data, in one line
     */
    public static TestData open(String option) {
        return ImageFolder.isFolder(option) ? new TestData(option, null, ImageFolder.ofOption(option))
                : new TestData(option, FashionMnist.load(option, false), null);
    }

    public boolean isFolder() { return folder != null; }

    /**
     * Refuses an image count the prompts for {@code data} cannot have: a folder's take any n >= 1, Fashion-MNIST's
     * class-balanced ones a multiple of 10.
     * @param option the count's option, for the message ("--n", "--eval-n")
     */
    public static void checkN(String data, String option, int n) {
        try {
            if (!ImageFolder.isFolder(data)) Evaluation.checkN(n);
            else if (n < 1) throw new IllegalArgumentException("n must be >= 1, got " + n);
        } catch (IllegalArgumentException e) {
            throw new Add4jException(option + e.getMessage().substring(1));   // "n must be ..." -> "--eval-n must be ..."
        }
    }

    /**
     * The eval net with the reference statistics of the test images (cached beside it) and {@code n} prompts.
     * @param log    receives the folder's one-time conversion and the statistics' line
     * @param seed   seed of the prompts
     */
    public Evaluation.Setup setup(EvalNet.Loaded net, TextEncoder text, Device device, int n, long seed, int batch, PrintStream log) {
        EvalImages test = folder == null ? EvalImages.of(fashion)
                : EvalImages.folderTest(folder, net.channels(), net.imageSize(), net.classNames(), log);
        String name = folder == null ? FashionMnist.describe(option) + " test split" : test.describe();
        Consumer<String> lines = log::println;
        Reference ref = Reference.of(net.net(), net.file(), test, name, n, batch, lines);
        Evaluation.Prompts prompts = folder == null ? Evaluation.Prompts.classBalanced(n, seed) : Evaluation.Prompts.fromCaptions(test, n, seed);
        return new Evaluation.Setup(net.net(), ref, text, device, prompts, seed, batch);
    }
}
