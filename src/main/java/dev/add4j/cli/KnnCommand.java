package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.FashionMnist;
import dev.add4j.features.FeatureTrainer;
import dev.add4j.features.Knn;
import dev.add4j.features.Vit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code add4j knn}: the weighted k-NN accuracy of saved feature networks, the same measure {@code train-features}
 * prints at its end, on any number of training and test images (a run measures on a subset to save time).
 */
@Command(name = "knn", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure feature networks written by train-features: weighted k-NN accuracy (k = 20, cosine, CLS "
                + "features) of the test images against the training images, one line per file."})
public final class KnnCommand implements Callable<Integer> {

    @Parameters(paramLabel = "FILE", arity = "1..*", description = "Feature networks (.safetensors from train-features).")
    List<Path> files;

    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, or 'embedded' (default: $ADD4J_DATA, else /usr/share/datasets/fashion-mnist).")
    String data;

    @Option(names = "--knn-train", paramLabel = "N", description = "Training images in the k-NN bank (default: all).")
    Integer knnTrain;

    @Option(names = "--knn-test", paramLabel = "N", description = "Test images classified (default: all).")
    Integer knnTest;

    @CommandLine.Mixin Main.DeviceOption deviceOption;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        for (Path f : files) if (!Files.isRegularFile(f)) throw new Add4jException(f + ": no such file");
        List<Vit> vits = files.stream().map(Vit::load).toList();           // all checked before any work
        Device device = deviceOption.init();
        FashionMnist.Split train = FashionMnist.load(data, true), test = FashionMnist.load(data, false);
        int bank = TrainFeaturesCommand.limit("--knn-train", knnTrain, train.n()), queries = TrainFeaturesCommand.limit("--knn-test", knnTest, test.n());
        PrintWriter out = spec.commandLine().getOut();
        try (var scope = new PointerScope()) {
            Tensor images = FeatureTrainer.images(train, bank, device);                                      // [N,1,32,32]
            Tensor labels = FeatureTrainer.labels(train, bank, device);                                      // [N]
            Tensor testImages = FeatureTrainer.images(test, queries, device);                                // [M,1,32,32]
            Tensor testLabels = FeatureTrainer.labels(test, queries, device);                                // [M]
            for (int i = 0; i < files.size(); i++) {
                Vit vit = vits.get(i);
                vit.to(device);
                double acc = Knn.accuracy(vit, images, labels, testImages, testLabels, FashionMnist.CLASSES);
                out.printf(Locale.ROOT, "%s  k-NN accuracy %.4f  (k=%d, %d train -> %d test)%n", files.get(i), acc, Knn.K, bank, queries);
                out.flush();
            }
        }
        return 0;
    }
}
