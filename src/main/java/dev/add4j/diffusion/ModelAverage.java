package dev.add4j.diffusion;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.io.Provenance;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The uniform average of the weights of several model files of one architecture: a "model soup" (Wortsman et al.,
 * 2022). Fine-tunes that share a starting point lie in one basin, so their mean is a model too, and it averages out
 * what each run's pairs and seed added by chance.
 */
public final class ModelAverage {
    /** Metadata key: the averaged files, as JSON (file, sha256, and the command that made each). */
    public static final String AVERAGE_OF = "add4j.average_of";
    // what must agree for weights to be averaged: the architecture and how the model is used
    private static final List<String> MUST_AGREE = List.of(ModelFile.UNET, ModelFile.KIND, "add4j.prediction",
            "add4j.schedule", ModelFile.STUDENT_TIMESTEPS);
    // the entries the average keeps, where all inputs agree on them; the rest is each run's own provenance
    private static final List<String> KEPT = List.of("format", ModelFile.KIND, "add4j.prediction", "add4j.schedule",
            ModelFile.UNET, ModelFile.STUDENT_TIMESTEPS, "add4j.teacher");

    private ModelAverage() {}

    /**
     * Writes the mean of {@code inputs}' weights to {@code out} (fp16, atomically), with the inputs and their
     * hashes in its metadata.
     * @param command the command line, for provenance
     * @throws Add4jException (one line) for fewer than two or repeated inputs, a file that is not an add4j model,
     *         files that differ in architecture, kind or timesteps, or an {@code out} that exists
     */
    public static void write(List<Path> inputs, Path out, String command) {
        if (inputs.size() < 2) throw new Add4jException("average needs at least two model files, got " + inputs.size());
        List<Path> norm = inputs.stream().map(p -> p.toAbsolutePath().normalize()).toList();
        if (norm.stream().distinct().count() < norm.size()) throw new Add4jException("a model file is given twice: " + inputs);
        if (Files.exists(out)) throw new Add4jException(out + " already exists: choose another output file");
        List<Map<String, Object>> members = new ArrayList<>();
        Map<String, Tensor> sum = new LinkedHashMap<>();
        Map<String, String> first = null;
        Map<String, String> kept = new LinkedHashMap<>();
        try (var scope = new PointerScope()) {
            for (Path in : inputs) {
                SafeTensors.Contents c = SafeTensors.read(in);
                Map<String, String> meta = c.metadata();
                if (!meta.containsKey(ModelFile.UNET))
                    throw new Add4jException(in + ": not an add4j diffusion model (no " + ModelFile.UNET + " in its metadata)");
                if (first == null) {
                    first = meta;
                    for (String k : KEPT) if (meta.containsKey(k)) kept.put(k, meta.get(k));
                    c.tensors().forEach((k, v) -> sum.put(k, v.clone()));
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
                        acc.add_(e.getValue());
                    }
                    kept.entrySet().removeIf(k -> !k.getValue().equals(meta.get(k.getKey())));
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("file", in.toString());
                m.put("sha256", Provenance.sha256(in));
                m.put("command", meta.getOrDefault("add4j.command", "unknown"));
                members.add(m);
            }
            Map<String, Tensor> mean = new LinkedHashMap<>();
            sum.forEach((k, v) -> mean.put(k, v.div_(Ops.s(inputs.size()))));
            Map<String, String> meta = new LinkedHashMap<>(kept);
            meta.putAll(Provenance.of(command));
            meta.put(AVERAGE_OF, Json.compact(members));
            SafeTensors.write(out, mean, meta, SafeTensors.Dtype.F16);
        }
    }
}
