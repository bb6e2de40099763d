package dev.add4j.io;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The average of the weights of several model files of one architecture: a "model soup" (Wortsman et al., 2022).
 * Fine-tunes that share a starting point lie in one basin, so their mean is a model too, and it averages out what
 * each run's pairs and seed added by chance. Weights other than uniform ones give a weighted mean; a negative one
 * extrapolates, e.g. 1.5 x a fine-tune - 0.5 x its start goes on along the fine-tune's direction (ExPO, Zheng et al.,
 * 2024).
 */
public final class ModelAverage {
    /** Metadata key: the averaged files, as JSON (file, sha256, and the command that made each). */
    public static final String AVERAGE_OF = "add4j.average_of";
    // what must agree for weights to be averaged: the architecture and how the model is used
    private static final List<String> MUST_AGREE = List.of(ModelFile.UNET, ModelFile.KIND, "add4j.prediction",
            "add4j.schedule", ModelFile.STUDENT_TIMESTEPS, ModelFile.IMAGE_SIZE);
    // the entries the average keeps, where all inputs agree on them; the rest is each run's own provenance
    private static final List<String> KEPT = List.of("format", ModelFile.KIND, "add4j.prediction", "add4j.schedule",
            ModelFile.UNET, ModelFile.IMAGE_SIZE, ModelFile.STUDENT_TIMESTEPS, "add4j.teacher");

    private ModelAverage() {}

    /** Writes the uniform mean of {@code inputs}' weights; see {@link #write(List, List, Path, String)}. */
    public static void write(List<Path> inputs, Path out, String command) {
        write(inputs, Collections.nCopies(inputs.size(), 1.0 / inputs.size()), out, command);
    }

    /**
     * Writes the weighted mean sum_i coeffs_i x inputs_i of the models' weights to {@code out} (fp16, atomically),
     * with the inputs, their hashes and coefficients in its metadata.
     * @param coeffs one per input, summing to 1 (a negative one extrapolates)
     * @param command the command line, for provenance
     * @throws Add4jException (one line) for fewer than two or repeated inputs, coefficients that do not match the
     *         inputs or do not sum to 1, a file that is not an add4j model, files that differ in architecture, kind
     *         or timesteps, or an {@code out} that is one of the inputs
     */
    public static void write(List<Path> inputs, List<Double> coeffs, Path out, String command) {
        if (inputs.size() < 2) throw new Add4jException("average needs at least two model files, got " + inputs.size());
        if (coeffs.size() != inputs.size())
            throw new Add4jException("--weights gives " + coeffs.size() + " numbers for " + inputs.size() + " model files");
        double total = coeffs.stream().mapToDouble(Double::doubleValue).sum();
        if (coeffs.stream().anyMatch(w -> !Double.isFinite(w)) || Math.abs(total - 1) > 1e-6)
            throw new Add4jException("--weights must be finite and sum to 1 (they sum to " + total + "): " + coeffs);
        List<Path> norm = inputs.stream().map(p -> p.toAbsolutePath().normalize()).toList();
        if (norm.stream().distinct().count() < norm.size()) throw new Add4jException("a model file is given twice: " + inputs);
        // whether an existing out may be replaced is the command's --out rule; an input never is
        if (norm.contains(out.toAbsolutePath().normalize())) throw new Add4jException("--out " + out + " is one of the model files to average");
        List<Map<String, Object>> members = new ArrayList<>();
        Map<String, Tensor> sum = new LinkedHashMap<>();
        Map<String, String> first = null;
        Map<String, String> kept = new LinkedHashMap<>();
        try (var scope = new PointerScope()) {
            for (int i = 0; i < inputs.size(); i++) {
                Path in = inputs.get(i);
                double w = coeffs.get(i);
                SafeTensors.Contents c = SafeTensors.read(in);
                Map<String, String> meta = new LinkedHashMap<>(c.metadata());
                meta.putIfAbsent(ModelFile.IMAGE_SIZE, Integer.toString(VPredictionModel.DEFAULT_IMAGE_SIZE)); // a file of before issue 20
                if (!meta.containsKey(ModelFile.UNET))
                    throw new Add4jException(in + ": not an add4j diffusion model (no " + ModelFile.UNET + " in its metadata)");
                if (first == null) {
                    first = meta;
                    for (String k : KEPT) if (meta.containsKey(k)) kept.put(k, meta.get(k));
                    c.tensors().forEach((k, v) -> sum.put(k, v.mul(Ops.s(w))));
                } else {
                    for (String key : MUST_AGREE)
                        if (!Objects.equals(first.get(key), meta.get(key)))
                            throw new Add4jException(in + ": its " + key + " (" + meta.get(key) + ") differs from "
                                    + inputs.get(0) + "'s (" + first.get(key) + "); only models of one kind can be averaged");
                    if (!c.tensors().keySet().equals(sum.keySet()))
                        throw new Add4jException(in + ": its tensors differ from " + inputs.get(0) + "'s");
                    for (var e : c.tensors().entrySet()) {
                        Tensor acc = sum.get(e.getKey());
                        if (!Arrays.equals(Ops.shape(acc), Ops.shape(e.getValue())))
                            throw new Add4jException(in + ": tensor " + e.getKey() + " has another shape than in " + inputs.get(0));
                        acc.add_(e.getValue(), Ops.s(w));
                    }
                    kept.entrySet().removeIf(k -> !k.getValue().equals(meta.get(k.getKey())));
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("file", in.toString());
                m.put("sha256", Provenance.sha256(in));
                m.put("weight", w);
                m.put("command", meta.getOrDefault("add4j.command", "unknown"));
                members.add(m);
            }
            Map<String, String> meta = new LinkedHashMap<>(kept);
            meta.putAll(Provenance.of(command));
            meta.put(AVERAGE_OF, Json.compact(members));
            SafeTensors.write(out, sum, meta, SafeTensors.Dtype.F16);
        }
    }
}
