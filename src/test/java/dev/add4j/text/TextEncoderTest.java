package dev.add4j.text;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.data.Captions;
import dev.add4j.nn.Ops;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TextEncoderTest {
    static TextEncoder encoder;

    @BeforeAll static void load() {
        TorchRuntime.init();
        encoder = new TextEncoder();
    }

    @AfterAll static void close() { encoder.close(); }

    @Test void encodingHasTheDocumentedShapesAndMask() {
        try (var scope = new PointerScope()) {
            var e = encoder.encode(List.of("a photo of a sneaker", "", "bag"));
            assertArrayEquals(new long[]{3, 32, 384}, Ops.shape(e.tokens()));
            assertArrayEquals(new long[]{3, 32}, Ops.shape(e.mask()));
            assertArrayEquals(new long[]{3, 384}, Ops.shape(e.pooled()));
            int n0 = encoder.tokenCount("a photo of a sneaker") + 2;                      // with [CLS] and [SEP]
            assertArrayEquals(new float[]{n0, 2, 3}, Ops.toFloats(e.mask().sum(1)));     // "" is [CLS] [SEP]
            float[] mask = Ops.toFloats(e.mask());
            assertEquals(1f, mask[n0 - 1]);                                               // real tokens come first
            assertEquals(0f, mask[n0]);
            assertEquals(0.0, Ops.f(e.tokens().select(0, 1).narrow(0, 2, 30).abs().sum()), "padding rows are zero");
        }
    }

    @Test void samePromptGivesIdenticalEmbeddingsWithinAndAcrossCalls() {
        try (var scope = new PointerScope()) {
            var a = encoder.encode(List.of("a photo of a coat", "a photo of a coat"));
            var b = encoder.encode("a photo of a coat");
            float[] ta = Ops.toFloats(a.tokens()), tb = Ops.toFloats(b.tokens());
            assertArrayEquals(Arrays.copyOfRange(ta, 0, 32 * 384), Arrays.copyOfRange(ta, 32 * 384, 64 * 384));
            assertArrayEquals(Arrays.copyOfRange(ta, 0, 32 * 384), tb);
            assertArrayEquals(Arrays.copyOfRange(Ops.toFloats(a.pooled()), 0, 384), Ops.toFloats(b.pooled()));
        }
    }

    @Test void cachedPromptInABatchGivesTheSameResultAsAlone() {
        try (var scope = new PointerScope()) {
            float[] alone = Ops.toFloats(encoder.encode("a picture of a dress").pooled());
            var batch = encoder.encode(List.of("a picture of a purse", "a picture of a dress"));
            assertArrayEquals(alone, Arrays.copyOfRange(Ops.toFloats(batch.pooled()), 384, 768));
        }
    }

    @Test void batchLargerThanTheCacheKeepsEveryRowAndMatchesTheSharedEncoder() {
        List<String> prompts = List.of("a coat", "a bag", "a boot", "a coat");
        try (var small = new TextEncoder(2); var scope = new PointerScope()) {
            assertArrayEquals(Ops.toFloats(encoder.encode(prompts).pooled()), Ops.toFloats(small.encode(prompts).pooled()));
        }
    }

    @Test void pooledVectorsHaveUnitNorm() {
        try (var scope = new PointerScope()) {
            float[] pooled = Ops.toFloats(encoder.encode(List.of("a photo of a sneaker", "", "jeans")).pooled());
            for (int i = 0; i < 3; i++) {
                float[] v = Arrays.copyOfRange(pooled, i * 384, (i + 1) * 384);
                assertEquals(1.0, Math.sqrt(dot(v, v)), 1e-5);
            }
        }
    }

    @Test void paraphraseIsCloserThanAnUnrelatedObject() {
        float[] sneaker = pooled("a photo of a sneaker"), running = pooled("running shoes"), handbag = pooled("a handbag");
        double para = dot(sneaker, running), unrelated = dot(sneaker, handbag);
        // measured: 0.414 vs 0.373; the property is the order, not the margin
        assertTrue(para > unrelated, "cos(sneaker, running shoes) = " + para + ", cos(sneaker, handbag) = " + unrelated);
    }

    @Test void canonicalCaptionIsCloserToItsOwnClassThanToOtherClassesOnAverage() {
        // the property class conditioning relies on; measured margins are 0.14 to 0.41
        List<String> all = Captions.allCaptions();
        float[] p;
        try (var scope = new PointerScope()) { p = Ops.toFloats(encoder.encode(all).pooled()); }
        for (int c = 0; c < 10; c++) {
            int ci = all.indexOf(Captions.canonical(c));
            double own = 0, other = 0;
            int nOwn = 0, nOther = 0;
            for (int j = 0; j < all.size(); j++) {
                if (j == ci) continue;
                double cos = dot(Arrays.copyOfRange(p, ci * 384, ci * 384 + 384), Arrays.copyOfRange(p, j * 384, j * 384 + 384));
                if (Captions.classOf(j) == c) { own += cos; nOwn++; } else { other += cos; nOther++; }
            }
            assertTrue(own / nOwn > other / nOther, Captions.canonical(c) + ": own " + own / nOwn + ", other " + other / nOther);
        }
    }

    @Test void pooledEmbeddingMatchesLangchain4jAllMiniLm() {
        var reference = new AllMiniLmL6V2EmbeddingModel();
        for (String p : List.of("a photo of a sneaker", "an image of a pair of jeans", "Ankle Boot, black & white!")) {
            float[] ref = reference.embed(p).content().vector();
            double cos = dot(pooled(p), ref) / Math.sqrt(dot(ref, ref));
            assertTrue(cos > 0.999, p + ": cosine " + cos);
        }
    }

    @Test void emptyPromptIsTheUnconditionalInput() {
        try (var scope = new PointerScope()) {
            var e = encoder.encode("");
            assertEquals(2.0, Ops.f(e.mask().sum()));                                    // [CLS] [SEP]
            assertEquals(0, encoder.tokenCount(""));
        }
    }

    @Test void promptOver30TokensIsRejected() {
        String longPrompt = "a photo of a " + "very ".repeat(30) + "long red sneaker";
        int tokens = encoder.tokenCount(longPrompt);
        assertTrue(tokens > 30);
        var e = assertThrows(Add4jException.class, () -> encoder.encode(longPrompt));
        assertEquals("prompt too long: " + tokens + " tokens, at most 30", e.getMessage());
    }

    @Test void promptOver200CharactersOrNullIsRejected() {
        var e = assertThrows(Add4jException.class, () -> encoder.encode("x".repeat(201)));
        assertEquals("prompt too long: 201 characters, at most 200", e.getMessage());
        assertThrows(Add4jException.class, () -> encoder.encode(java.util.Collections.singletonList(null)));
    }

    private static float[] pooled(String prompt) {
        try (var scope = new PointerScope()) {
            return Ops.toFloats(encoder.encode(prompt).pooled());
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    @Test void cacheBackedEncoderGivesTheCachedPromptsAndRefusesOthers(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        java.nio.file.Path file = dir.resolve("captions.safetensors");
        List<String> prompts = List.of("a photo of a sneaker", "", "a grayscale image of a pair of trousers");
        try (var scope = new PointerScope()) {
            var real = encoder.encode(prompts);
            PromptEmbeddings.save(file, prompts, real);
            try (TextEncoder cached = TextEncoder.fromCache(file)) {
                var e = cached.encode(List.of(prompts.get(2), prompts.get(0)));              // any order, full 32 positions
                assertArrayEquals(new long[]{2, 32, 384}, Ops.shape(e.tokens()));
                var want = encoder.encode(List.of(prompts.get(2), prompts.get(0)));
                assertArrayEquals(Ops.toFloats(want.mask()), Ops.toFloats(e.mask()));
                assertTrue(Ops.f(want.tokens().sub(e.tokens()).abs().max()) < 5e-3, "float16 rounding only");
                assertTrue(Ops.f(want.pooled().sub(e.pooled()).abs().max()) < 1e-3);
                Add4jException ex = assertThrows(Add4jException.class, () -> cached.encode("a photo of a coat"));
                assertTrue(ex.getMessage().contains("not in the text cache"), ex.getMessage());
            }
        }
        assertTrue(TextEncoder.modelAvailable());
    }
}
