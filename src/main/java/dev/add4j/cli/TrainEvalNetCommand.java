package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.TrainingData;
import dev.add4j.dist.Group;
import dev.add4j.eval.EvalImages;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.EvalNetTrainer;
import dev.add4j.io.Json;
import dev.add4j.io.Provenance;
import dev.add4j.text.TextEncoder;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code add4j train-eval-net}: trains the CNN whose features, logits and text projection the metrics use, on
 * Fashion-MNIST or a captioned folder at the models' channels and size (recorded in the file, so {@code eval} can
 * refuse a model of another shape).
 */
@Command(name = "train-eval-net", mixinStandardHelpOptions = true,
        description = "Train the evaluation network (a small CNN: features for FID/KID/precision-recall, a class head, "
                + "and a projection into the frozen MiniLM text space for the CLIP score) on Fashion-MNIST or a captioned "
                + "folder (--data DIR: its first captions are the classes where they can be; else no class head, and the "
                + "projection learns the captions alone). Writes it as safetensors with its config, image size, command and "
                + "test accuracy, and prints the test accuracy.")
public final class TrainEvalNetCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, 'embedded' for the shipped 4000-image subset, or a captioned image "
                    + "folder (default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).")
    String data;
    @Option(names = "--channels", paramLabel = "1|3", description = "Image channels of the models it will measure: 1 (grey) or 3 "
            + "(RGB); a captioned folder is converted to them (default: 1 for Fashion-MNIST, 3 for a folder).") Integer channels;
    @Option(names = "--image-size", paramLabel = "PX", description = "Side of those models' square images, e.g. 32 or 64 "
            + "(a multiple of 8); a captioned folder is converted to it (default: 32).") Integer imageSize;
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output file, e.g. evalnet.safetensors.") Path out;
    @Option(names = "--steps", defaultValue = "6000", description = "Optimiser steps (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--batch", defaultValue = "256", description = "Images per step (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate of AdamW (default: ${DEFAULT-VALUE}).") double lr;
    @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--log-every", defaultValue = "100", description = "Steps between progress lines (default: ${DEFAULT-VALUE}).") int logEvery;
    @Option(names = "--size", defaultValue = "fmnist", paramLabel = "fmnist|tiny",
            description = "Network size: fmnist (0.67M parameters) or tiny (tests) (default: ${DEFAULT-VALUE}).") String size;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() {
        EvalNet.Config netCfg = switch (size) {
            case "fmnist" -> EvalNet.Config.fmnist();
            case "tiny" -> EvalNet.Config.tiny();
            default -> throw new IllegalArgumentException("--size: expected fmnist or tiny, got '" + size + "'");
        };
        EvalNetTrainer.Config cfg = EvalNetTrainer.Config.defaults()
                .withSteps(steps).withBatch(batch).withLr(lr).withSeed(seed).withLogEvery(logEvery);
        // bad --out and --data fail before anything is computed
        Outputs.file(out, force.force);
        TrainingData.Shape shape = TrainingData.shape(data, channels, imageSize);
        int stages = netCfg.widths().size();
        if (shape.size() % (1 << stages) != 0)
            throw new Add4jException("--image-size " + shape.size() + ": the eval net halves it " + stages + " times; use a multiple of " + (1 << stages));
        EvalImages.Splits splits = EvalImages.load(data, shape.channels(), shape.size(), System.out);
        EvalImages train = splits.train(), test = splits.test();
        if (splits.classesLeftOut() != null)
            System.out.println("no class head: " + splits.classesLeftOut() + "; the CLIP-score projection learns the captions alone");
        netCfg = netCfg.withData(shape.channels(), train.classNames().size());
        Device device = deviceOption.init();
        torch.manual_seed(seed); // the initial weights too come from --seed
        EvalNet net = new EvalNet(netCfg);
        System.out.printf(Locale.ROOT, "eval net: %,d parameters, %d x %d px, %d training / %d test images, %s, device %s, %d steps at batch %d%n",
                net.parameterCount(), shape.channels(), shape.size(), train.n(), test.n(),
                train.hasClasses() ? train.classNames().size() + " classes" : "no classes", device.str().getString(), steps, batch);

        EvalNetTrainer.Result r;
        try (TextEncoder text = new TextEncoder()) {
            r = EvalNetTrainer.train(net, cfg, train, test, text, device, System.out::println);
        }

        if (!Group.current().isMain()) return 0;                         // rank 0 writes the net
        Map<String, String> meta = Provenance.of(Main.invocation());
        meta.put("add4j.data", (data == null ? "default" : data) + " (" + train.n() + " training, " + test.n() + " test images)");
        meta.put(EvalNet.IMAGE_SIZE_KEY, Integer.toString(shape.size()));
        if (train instanceof EvalImages.Folder && train.hasClasses()) meta.put(EvalNet.CLASS_NAMES_KEY, Json.compact(train.classNames()));
        meta.put("add4j.seed", Long.toString(seed));
        meta.put("evalnet.train_config", Json.write(cfg));
        meta.put("evalnet.steps", Integer.toString(r.steps()));
        meta.put("evalnet.device", device.str().getString());
        meta.put("evalnet.train_seconds", String.format(Locale.ROOT, "%.1f", r.seconds()));
        if (r.test() != null) {
            meta.put("evalnet.test_accuracy", String.format(Locale.ROOT, "%.4f", r.test().overall()));
            meta.put("evalnet.test_accuracy_per_class", Json.write(r.test().perClass()));
        } else {
            meta.put("evalnet.test_accuracy_left_out", r.testLeftOut());
        }
        meta.put(r.textMeasure().equals(EvalNetTrainer.ZERO_SHOT) ? "evalnet.text_prompt_accuracy" : "evalnet.caption_retrieval_accuracy",
                String.format(Locale.ROOT, "%.4f", r.textAccuracy()));
        net.save(out, meta);

        System.out.printf(Locale.ROOT, "trained %d steps in %.1f s; loss %.4f -> %.4f%n", r.steps(), r.seconds(), r.firstLoss(), r.lastLoss());
        if (r.test() != null) {
            StringBuilder perClass = new StringBuilder();
            for (int c = 0; c < r.test().perClass().size(); c++)
                perClass.append(String.format(Locale.ROOT, "%s%s %.3f", c == 0 ? "" : ", ", train.classNames().get(c), r.test().perClass().get(c)));
            System.out.println("per class: " + perClass);
        }
        System.out.printf(Locale.ROOT, "%s %.4f%n", r.textMeasure(), r.textAccuracy());
        if (r.test() != null) System.out.printf(Locale.ROOT, "test accuracy %.4f%n", r.test().overall());
        else System.out.println("test accuracy left out: " + r.testLeftOut());
        System.out.println("wrote " + out);
        return 0;
    }
}
