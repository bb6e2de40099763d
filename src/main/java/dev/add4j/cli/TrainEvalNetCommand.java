package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.Captions;
import dev.add4j.data.FashionMnist;
import dev.add4j.dist.Group;
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

/** {@code add4j train-eval-net}: trains the CNN whose features, logits and text projection the metrics use. */
@Command(name = "train-eval-net", mixinStandardHelpOptions = true,
        description = "Train the evaluation network (a small CNN: features for FID/KID/precision-recall, a class head, "
                + "and a projection into the frozen MiniLM text space for the CLIP score) on Fashion-MNIST. "
                + "Writes it as safetensors with its config, command and test accuracy, and prints the test accuracy.")
public final class TrainEvalNetCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, or 'embedded' for the shipped 4000-image subset "
                    + "(default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).")
    String data;
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
        FashionMnist.Split train = FashionMnist.load(data, true), test = FashionMnist.load(data, false);
        Device device = deviceOption.init();
        torch.manual_seed(seed); // the initial weights too come from --seed
        EvalNet net = new EvalNet(netCfg);
        System.out.printf(Locale.ROOT, "eval net: %,d parameters, %d training / %d test images, device %s, %d steps at batch %d%n",
                net.parameterCount(), train.n(), test.n(), device.str().getString(), steps, batch);

        EvalNetTrainer.Result r;
        try (TextEncoder text = new TextEncoder()) {
            r = EvalNetTrainer.train(net, cfg, train, test, text, device, System.out::println);
        }

        if (!Group.current().isMain()) return 0;                         // rank 0 writes the net
        Map<String, String> meta = Provenance.of(Main.invocation());
        meta.put("add4j.data", (data == null ? "default" : data) + " (" + train.n() + " training, " + test.n() + " test images)");
        meta.put("add4j.seed", Long.toString(seed));
        meta.put("evalnet.train_config", Json.write(cfg));
        meta.put("evalnet.steps", Integer.toString(r.steps()));
        meta.put("evalnet.device", device.str().getString());
        meta.put("evalnet.train_seconds", String.format(Locale.ROOT, "%.1f", r.seconds()));
        meta.put("evalnet.test_accuracy", String.format(Locale.ROOT, "%.4f", r.test().overall()));
        meta.put("evalnet.test_accuracy_per_class", Json.write(r.test().perClass()));
        meta.put("evalnet.text_prompt_accuracy", String.format(Locale.ROOT, "%.4f", r.textAccuracy()));
        net.save(out, meta);

        System.out.printf(Locale.ROOT, "trained %d steps in %.1f s; loss %.4f -> %.4f%n", r.steps(), r.seconds(), r.firstLoss(), r.lastLoss());
        StringBuilder perClass = new StringBuilder();
        for (int c = 0; c < r.test().perClass().size(); c++)
            perClass.append(String.format(Locale.ROOT, "%s%s %.3f", c == 0 ? "" : ", ", Captions.CLASS_NAMES.get(c), r.test().perClass().get(c)));
        System.out.println("per class: " + perClass);
        System.out.printf(Locale.ROOT, "text-prompt (zero-shot) accuracy %.4f%n", r.textAccuracy());
        System.out.printf(Locale.ROOT, "test accuracy %.4f%n", r.test().overall());
        System.out.println("wrote " + out);
        return 0;
    }
}
