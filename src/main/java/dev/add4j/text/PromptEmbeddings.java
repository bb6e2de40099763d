package dev.add4j.text;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MiniLM embeddings of a fixed list of prompts (the training captions), cached in a safetensors file so that a
 * machine without the 90 MB ONNX model (a packed GPU runtime) can train on them. The file records its prompts;
 * a cache made for other prompts is refused rather than silently used.
 */
public final class PromptEmbeddings {
    private PromptEmbeddings() {}

    /**
     * The embeddings of {@code prompts}: read from {@code cache} when it holds exactly these prompts, else computed
     * with MiniLM (and written to {@code cache} when it is not null).
     */
    public static TextEncoder.Embedding loadOrCompute(Path cache, List<String> prompts) {
        if (cache != null && Files.exists(cache)) return load(cache, prompts);
        try (TextEncoder text = new TextEncoder()) {
            TextEncoder.Embedding e = text.encode(prompts);
            if (cache != null) save(cache, prompts, e);
            return e;
        }
    }

    /**
     * Writes embeddings and their prompts, small enough to travel: token positions past the longest prompt are
     * dropped (they are padding, masked out wherever tokens are used, so nothing changes) and values are stored
     * as float16 (MiniLM's states are of order 1; the rounding, ~1e-3, is far below what a network resolves).
     */
    public static void save(Path file, List<String> prompts, TextEncoder.Embedding e) {
        long used = (long) Ops.f(e.mask().sum(new long[]{1}, false, new ScalarTypeOptional()).max());
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("tokens", e.tokens().narrow(1, 0, used));
        t.put("mask", e.mask().narrow(1, 0, used));
        t.put("pooled", e.pooled());
        SafeTensors.write(file, t, Map.of("prompts", Json.compact(prompts), "encoder", "all-MiniLM-L6-v2"), SafeTensors.Dtype.F16);
    }

    /** A cache file's prompts and their embeddings (tokens cut to the longest prompt's length). */
    public record Saved(List<String> prompts, TextEncoder.Embedding embedding) {}

    /** Reads embeddings, checking they were made for {@code prompts}. */
    public static TextEncoder.Embedding load(Path file, List<String> prompts) {
        Saved s = loadAny(file);
        if (!s.prompts().equals(prompts))
            throw new Add4jException(file + ": embeddings of other prompts (" + s.prompts().size() + " saved, "
                    + prompts.size() + " wanted): delete it to recompute");
        return s.embedding();
    }

    /** Reads a cache file whatever its prompts. */
    public static Saved loadAny(Path file) {
        if (!Files.isRegularFile(file)) throw new Add4jException(file + ": no such text cache file");
        SafeTensors.Contents c = SafeTensors.read(file);
        String[] saved = Json.read(c.metadata().getOrDefault("prompts", "[]"), String[].class);
        Tensor tokens = c.tensors().get("tokens"), mask = c.tensors().get("mask"), pooled = c.tensors().get("pooled");
        if (tokens == null || mask == null || pooled == null || tokens.size(0) != saved.length)
            throw new Add4jException(file + ": not a text cache (needs tokens, mask, pooled and their prompts)");
        return new Saved(Arrays.asList(saved), new TextEncoder.Embedding(tokens, mask, pooled));
    }
}
