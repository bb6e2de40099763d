package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.nn.UNet;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A shipped diffusion model (teacher or student): the UNet's weights as safetensors, and in the header's metadata
 * everything needed to use it and to know how it was made: kind, UNet config, prediction type, schedule,
 * the sampler timesteps of a student, and provenance (command, steps, data, seed, git commit, versions).
 */
public final class ModelFile {
    /** Metadata key for the network architecture (UNet.Config as JSON). */
    public static final String UNET = "add4j.unet";
    /** "teacher" or "student". */
    public static final String KIND = "add4j.kind";
    /** For a student: its timesteps, e.g. "999,749,499,249". */
    public static final String STUDENT_TIMESTEPS = "add4j.student_timesteps";
    /** Side H = W of the images, e.g. "64"; absent in files written before issue 20, which are 32 px. */
    public static final String IMAGE_SIZE = "add4j.image_size";

    /** A loaded model and its metadata. */
    public record Loaded(VPredictionModel model, Map<String, String> metadata) {
        public String kind() { return metadata.getOrDefault(KIND, "teacher"); }
        public boolean isStudent() { return kind().equals("student"); }
        /** The student's own timesteps, or null for a teacher. */
        public List<Integer> studentTimesteps() {
            String s = metadata.get(STUDENT_TIMESTEPS);
            return s == null ? null : Timesteps.parse(s, true);
        }
        /** The model's own plan at {@code steps}: DDIM for a teacher, ADD for a student ({@link SamplingPlan#of}). */
        public SamplingPlan plan(int steps) { return plan(steps, null); }
        /** The plan with {@code sampler} (null: the model's own); a student keeps its timesteps whatever the sampler. */
        public SamplingPlan plan(int steps, Samplers.Kind sampler) { return SamplingPlan.of(isStudent(), studentTimesteps(), steps, sampler); }
    }

    private ModelFile() {}

    /** Writes {@code model}'s weights (fp16, small to ship) and metadata (its UNet config and image size) atomically. */
    public static void save(Path file, VPredictionModel model, String kind, Map<String, String> provenance) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "add4j-model-1");
        meta.put(KIND, kind);
        meta.put("add4j.prediction", "v");
        meta.put("add4j.schedule", "linear betas 1e-4..0.02, zero terminal SNR, 1000 steps");
        meta.put(UNET, Json.compact(model.net().config()));
        meta.put(IMAGE_SIZE, Integer.toString(model.imageSize()));
        meta.putAll(provenance);
        SafeTensors.write(file, model.net().namedParameters(), meta, SafeTensors.Dtype.F16);
    }

    /** Writes a model of {@value VPredictionModel#DEFAULT_IMAGE_SIZE} px images (see {@link #save(Path, VPredictionModel, String, Map)}). */
    public static void save(Path file, UNet net, String kind, Map<String, String> provenance) {
        save(file, new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr()), kind, provenance);
    }

    /**
     * Loads a model onto {@code device}. Everything in the file is checked before it is used: its config strictly
     * (every field, exact types, within {@link UNet.Config}'s limits), against the weights' count before the network
     * is allocated, then each weight's name and shape, and every value finite.
     * @throws Add4jException one line naming the file and what was wrong with it
     */
    public static Loaded load(Path file, Device device) {
        if (!Files.isRegularFile(file)) throw new Add4jException(file + ": no such model file");
        SafeTensors.Contents c = SafeTensors.read(file);
        String cfg = c.metadata().get(UNET);
        if (cfg == null) throw new Add4jException(file + ": not an add4j diffusion model (no " + UNET + " in its metadata)");
        UNet.Config config = Json.readStrict(cfg, file + ": metadata " + UNET, UNet.Config.class);
        int size = imageSize(file, c.metadata().get(IMAGE_SIZE), config);
        // a config far larger than the weights would allocate for nothing; one that matches is checked name by name below
        long weights = c.tensors().values().stream().mapToLong(Tensor::numel).sum();
        if (config.parameterCount() > weights)
            throw new Add4jException(file + ": metadata " + UNET + " describes a UNet of " + config.parameterCount()
                    + " weights but the file holds " + weights);
        SafeTensors.requireFinite(file, c.tensors());
        UNet net = new UNet(config);
        try (var scope = new org.bytedeco.javacpp.PointerScope()) {
            net.load(c.tensors(), file.toString());
        }
        net.to(device).train(false).requiresGrad(false);
        return new Loaded(new VPredictionModel(net, NoiseSchedule.zeroTerminalSnr(), size), c.metadata());
    }

    /** The file's image size: 32 where it records none (written before issue 20), else a plain decimal the UNet runs at. */
    private static int imageSize(Path file, String value, UNet.Config config) {
        if (value == null) return VPredictionModel.DEFAULT_IMAGE_SIZE;
        try {
            if (!value.matches("[0-9]{1,4}")) throw new IllegalArgumentException("expected a side in pixels like 32 or 64, got '" + value + "'");
            int size = Integer.parseInt(value);
            VPredictionModel.checkImageSize(config, size);
            return size;
        } catch (IllegalArgumentException e) {
            throw new Add4jException(file + ": metadata " + IMAGE_SIZE + ": " + e.getMessage());
        }
    }

    /**
     * Refuses a model whose images Fashion-MNIST's cannot stand beside, for the commands whose data, eval net and
     * reference are Fashion-MNIST's alone (eval, demo, bench, probe-disc; issue 20 leaves them to that data set).
     */
    public static void requireFashionMnistShape(VPredictionModel model, String what, String command) {
        if (model.channels() != 1 || model.imageSize() != VPredictionModel.DEFAULT_IMAGE_SIZE)
            throw new Add4jException(what + " is " + model.describeShape() + "; " + command + " measures against Fashion-MNIST's 1 x "
                    + VPredictionModel.DEFAULT_IMAGE_SIZE + " px images only");
    }

    /**
     * Refuses {@code other} where its images differ from {@code model}'s: one line naming both shapes.
     * @param what  the other model or data, as the user named it ("--init-from runs/a/student.safetensors")
     */
    public static void requireSameShape(VPredictionModel model, String modelName, int channels, int size, String what) {
        if (channels != model.channels() || size != model.imageSize())
            throw new Add4jException(what + " is " + channels + " x " + size + " px but " + modelName + " is " + model.describeShape()
                    + ": channels and image size must agree");
    }
}
