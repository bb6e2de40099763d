package dev.add4j.cli;

import dev.add4j.data.CaptionTable;
import dev.add4j.data.CaptionedImages;
import dev.add4j.data.TrainingData;
import dev.add4j.dist.Group;
import dev.add4j.Add4jException;
import dev.add4j.io.Provenance;
import dev.add4j.nn.UNet;
import dev.add4j.train.TeacherConfig;
import dev.add4j.train.TeacherTrainer;
import org.bytedeco.pytorch.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code add4j train-teacher}: trains the text-conditional diffusion teacher. */
@Command(name = "train-teacher", mixinStandardHelpOptions = true,
        description = "Train the text-conditional diffusion teacher (v-prediction, zero terminal SNR) on Fashion-MNIST "
                + "or a captioned image folder. "
                + "Writes OUT/teacher.safetensors (EMA weights), checkpoints, config.json and train-log.jsonl.")
public final class TrainTeacherCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR|embedded",
            description = "Fashion-MNIST directory, 'embedded' for the shipped 4000-image subset, or a captioned image "
                    + "folder (PNG/JPEG files and captions.csv or captions.jsonl; its train split) "
                    + "(default: $ADD4J_DATA, then /usr/share/datasets/fashion-mnist).")
    String data;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run directory.") Path out;
    @Option(names = "--steps", defaultValue = "20000", description = "Optimiser steps (default: ${DEFAULT-VALUE}).") long steps;
    @Option(names = "--batch", defaultValue = "64", description = "Images per step (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--lr", defaultValue = "2e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE}).") double lr;
    @Option(names = "--warmup", defaultValue = "500", description = "Warm-up steps (default: ${DEFAULT-VALUE}).") long warmup;
    @Option(names = "--ema", defaultValue = "0.9995", description = "EMA decay (default: ${DEFAULT-VALUE}).") double ema;
    @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--size", defaultValue = "fmnist", paramLabel = "fmnist|tiny",
            description = "Network size: fmnist (2.4M parameters) or tiny (tests) (default: ${DEFAULT-VALUE}).") String size;
    @Option(names = "--channels", paramLabel = "1|3", description = "Image channels of the model: 1 (grey) or 3 (RGB); "
            + "a captioned folder is converted to them (default: 1 for Fashion-MNIST, 3 for a folder).") Integer channels;
    @Option(names = "--image-size", paramLabel = "PX", description = "Side of the model's square images, e.g. 32 or 64; "
            + "a captioned folder is converted to it (default: 32).") Integer imageSize;
    @Option(names = "--resume", description = "Continue the run in --out from its checkpoint.") boolean resume;
    @Option(names = "--max-minutes", defaultValue = "0", description = "Stop (with a checkpoint) after this many minutes; 0: no limit.") double maxMinutes;
    @Option(names = "--checkpoint-every", defaultValue = "1000", description = "Steps between checkpoints (default: ${DEFAULT-VALUE}).") long checkpointEvery;
    @Option(names = "--caption-cache", paramLabel = "FILE",
            description = "Cache of the captions' MiniLM embeddings: read if present, else written (lets a machine without the ONNX model train; "
                    + "a captioned folder keeps its own in DIR/.add4j-cache).")
    Path captionCache;
    @Mixin Main.RestartOption restarts;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() throws Exception {
        UNet.Config unet = switch (size) {
            case "fmnist" -> UNet.Config.fmnist();
            case "tiny" -> UNet.Config.tiny();
            default -> throw new IllegalArgumentException("--size: expected fmnist or tiny, got '" + size + "'");
        };
        Outputs.runDirectory(out, force.force, resume);
        int maxRestarts = restarts.checked();
        TrainingData.Shape shape = TrainingData.shape(data, channels, imageSize);
        unet = unet.withImageChannels(shape.channels());
        TeacherConfig cfg;
        try {
            cfg = new TeacherConfig(steps, batch, lr, warmup, ema, 0.1, 1.0, seed, unet, shape.size());
        } catch (IllegalArgumentException e) {
            throw new Add4jException((e.getMessage().startsWith("image size") ? "--image-size: " : "") + e.getMessage());
        }
        Device device = deviceOption.init();
        // bad --data fails before anything is written (a folder's image cache is written inside it, once it is good)
        TrainingData train = TrainingData.load(data, CaptionTable.TRAIN, shape.channels(), shape.size(), System.out);
        Files.createDirectories(out);
        var prov = Provenance.of(Main.invocation());
        prov.put("add4j.data", train.describe());
        prov.put("add4j.seed", Long.toString(seed));
        try (CaptionedImages images = train.captioned(captionCache, device);
             TeacherTrainer trainer = new TeacherTrainer(cfg, images, out, resume, prov)) {
            boolean speaks = Group.current().isMain();   // rank 0 writes the model, so only it says so
            if (speaks) System.out.printf("teacher: %,d parameters, %d training images, device %s, steps %d..%d%n",
                    trainer.model().net().parameterCount(), images.size(), device.str().getString(), trainer.startStep(), steps);
            if (trainer.startStep() == steps) {
                System.out.println(out + ": the run is already finished (step " + steps + " of " + steps + "); nothing written. "
                        + "Its model is " + out.resolve(TeacherTrainer.MODEL) + "; a larger --steps continues it");
                return 0;
            }
            long done = trainer.train(maxMinutes, checkpointEvery, maxRestarts, System.out);
            if (speaks) System.out.println("wrote " + out.resolve(TeacherTrainer.MODEL) + " after " + done + " steps");
        }
        return 0;
    }
}
