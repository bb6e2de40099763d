package dev.add4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir Path dir;

    @BeforeAll static void init() { TorchRuntime.init(); }

    /** Tensors covering the awkward cases: 0-d, one element, empty, special floats, int64 extremes, a non-contiguous view. */
    private static Map<String, Tensor> sample() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("unet.conv.weight", torch.randn(4, 3, 3, 3));
        m.put("scalar", Ops.fromFloats(new float[]{0.375f}));                          // shape []
        m.put("timesteps", Ops.fromLongs(new long[]{Long.MIN_VALUE, -1, 0, 999, Long.MAX_VALUE}, 5));
        m.put("one", Ops.fromFloats(new float[]{-0.0f}, 1));
        m.put("empty", Ops.fromFloats(new float[0], 0, 3));
        m.put("special", Ops.fromFloats(new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.MIN_VALUE, Float.MAX_VALUE}, 5));
        m.put("transposed", torch.randn(3, 5).t());                                     // not contiguous
        return m;
    }

    @Test void f32RoundTripIsBitExactAndKeepsOrderShapesAndDtypes() {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("m.safetensors");
            Map<String, Tensor> in = sample();
            SafeTensors.write(file, in, Map.of(), SafeTensors.Dtype.F32);
            var out = SafeTensors.read(file);
            assertEquals(new ArrayList<>(in.keySet()), new ArrayList<>(out.tensors().keySet()));
            for (String name : in.keySet()) {
                Tensor a = in.get(name), b = out.tensors().get(name);
                assertArrayEquals(Ops.shape(a), Ops.shape(b), name);
                assertTrue(b.is_cpu(), name);
                if (name.equals("timesteps")) {
                    assertEquals(ScalarType.Long, b.scalar_type().intern());
                    assertArrayEquals(Ops.toLongs(a), Ops.toLongs(b));
                } else {
                    assertEquals(ScalarType.Float, b.scalar_type().intern(), name);
                    if (b.numel() == 0) continue; // Ops.toFloats cannot read an empty tensor's null data pointer
                    assertArrayEquals(bits(Ops.toFloats(a)), bits(Ops.toFloats(b)), name);
                }
            }
            assertTrue(out.metadata().isEmpty());
        }
    }

    @Test void f16RoundTripStaysWithinHalfPrecisionAndHalvesTheData() throws IOException {
        try (var scope = new PointerScope()) {
            Path f32 = dir.resolve("a.safetensors"), f16 = dir.resolve("b.safetensors");
            Tensor w = torch.randn(64, 16);
            Tensor steps = Ops.fromLongs(new long[]{999, 749, Long.MAX_VALUE}, 3);
            SafeTensors.write(f32, Map.of("w", w), null, SafeTensors.Dtype.F32);
            SafeTensors.write(f16, new LinkedHashMap<>(Map.of("w", w, "steps", steps)), null, SafeTensors.Dtype.F16);
            assertTrue(Files.size(f16) < Files.size(f32) / 2 + 200, "F16 data is half the size");

            var out = SafeTensors.read(f16).tensors();
            assertEquals(ScalarType.Float, out.get("w").scalar_type().intern());
            float[] a = Ops.toFloats(w), b = Ops.toFloats(out.get("w"));
            for (int i = 0; i < a.length; i++) // half: 11 significant bits, so relative rounding error <= 2^-11
                assertEquals(a[i], b[i], Math.max(Math.abs(a[i]) * 0x1p-11f, 0x1p-24f), "element " + i);
            assertArrayEquals(Ops.toLongs(steps), Ops.toLongs(out.get("steps")), "int64 stays exact in F16 mode");
        }
    }

    @Test void metadataRoundTripsInOrder() {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("m.safetensors");
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("format", "pt");
            meta.put("config", "{\"lr\": 1e-4, \"steps\": [999, 749]}");
            meta.put("prompt", "ein Schuh – 靴");
            meta.put("empty", "");
            SafeTensors.write(file, Map.of("x", Ops.fromFloats(new float[]{1, 2}, 2)), meta, SafeTensors.Dtype.F32);
            var out = SafeTensors.read(file).metadata();
            assertEquals(new ArrayList<>(meta.entrySet()), new ArrayList<>(out.entrySet()));
        }
    }

    @Test void writtenHeaderFollowsTheFormat() throws IOException {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("m.safetensors");
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("a", Ops.fromFloats(new float[]{1.5f, -2f, 3f}, 3));
            in.put("b", Ops.fromLongs(new long[]{7, 8}, 1, 2));
            SafeTensors.write(file, in, Map.of("k", "v"), SafeTensors.Dtype.F32);

            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            long n = bytes.getLong(0);
            assertEquals(0, n % 8, "header padded to a multiple of 8");
            assertEquals(8 + n + 3 * 4 + 2 * 8, bytes.capacity(), "length field + header + data = file size");
            String header = new String(bytes.array(), 8, (int) n, StandardCharsets.UTF_8);
            assertEquals(header.stripTrailing(), header.replaceAll(" +$", ""), "only spaces pad the header");
            JsonNode json = new ObjectMapper().readTree(header);
            assertEquals("v", json.get("__metadata__").get("k").asText());
            assertEquals("F32", json.get("a").get("dtype").asText());
            assertEquals("[3]", json.get("a").get("shape").toString());
            assertEquals("[0,12]", json.get("a").get("data_offsets").toString());
            assertEquals("I64", json.get("b").get("dtype").asText());
            assertEquals("[1,2]", json.get("b").get("shape").toString());
            assertEquals("[12,28]", json.get("b").get("data_offsets").toString());
            int data = 8 + (int) n;
            assertEquals(1.5f, bytes.getFloat(data + 4 * 0));
            assertEquals(-2f, bytes.getFloat(data + 4 * 1));
            assertEquals(8L, bytes.getLong(data + 12 + 8));
        }
    }

    @Test void bf16IsReadByWideningToF32() {
        try (var scope = new PointerScope()) {
            // bf16 is the upper half of a float32; these values have short mantissas, so they are exact
            ByteBuffer data = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            data.putShort((short) (Float.floatToRawIntBits(1.5f) >>> 16)).putShort((short) (Float.floatToRawIntBits(-2.25f) >>> 16));
            Path file = raw("bf16.safetensors", "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", data.array());
            Tensor b = SafeTensors.read(file).tensors().get("b");
            assertEquals(ScalarType.Float, b.scalar_type().intern());
            assertArrayEquals(new float[]{1.5f, -2.25f}, Ops.toFloats(b));
        }
    }

    @Test void tensorsFromReadDoNotPointIntoFreedBuffers() {
        try (var scope = new PointerScope()) {
            Path a = dir.resolve("a.safetensors"), b = dir.resolve("b.safetensors");
            SafeTensors.write(a, Map.of("x", Ops.fromFloats(new float[]{1, 2, 3, 4}, 4)), null, SafeTensors.Dtype.F32);
            SafeTensors.write(b, Map.of("x", Ops.fromFloats(new float[]{5, 6, 7, 8}, 4)), null, SafeTensors.Dtype.F32);
            Tensor first = SafeTensors.read(a).tensors().get("x");
            for (int i = 0; i < 20; i++) SafeTensors.read(b); // same-sized reads would reuse a freed buffer
            assertArrayEquals(new float[]{1, 2, 3, 4}, Ops.toFloats(first));
        }
    }

    @Test void readAndWriteFreeTheirNativeBuffers() {
        Path file = dir.resolve("big.safetensors");
        try (var scope = new PointerScope()) {
            SafeTensors.write(file, Map.of("w", torch.randn(256, 1024)), null, SafeTensors.Dtype.F16); // 512 KB of data
        }
        long before = Pointer.totalBytes(); // what JavaCPP has allocated and not yet freed
        for (int i = 0; i < 20; i++) { // no scope here: temporaries not closed by read/write would pile up
            Map<String, Tensor> read = SafeTensors.read(file).tensors();
            SafeTensors.write(file, read, null, SafeTensors.Dtype.F16);
            read.values().forEach(Tensor::close);
        }
        assertTrue(Pointer.totalBytes() - before < 512 * 1024, "grew by " + (Pointer.totalBytes() - before) + " bytes");
    }

    @Test void tensorsOnCudaAreWrittenFromTheirCpuCopy() {
        Assumptions.assumeTrue(TorchRuntime.cudaAvailable(), "no CUDA device");
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("cuda.safetensors");
            Tensor x = torch.randn(5, 7);
            SafeTensors.write(file, Map.of("x", x.to(new Device("cuda"), ScalarType.Float)), null, SafeTensors.Dtype.F32);
            assertArrayEquals(Ops.toFloats(x), Ops.toFloats(SafeTensors.read(file).tensors().get("x")));
        }
    }

    @Test void uint8RoundTripIsExactAndOneBytePerValue() throws IOException {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve("images.safetensors");
            Tensor pixels = Ops.fromLongs(new long[]{0, 1, 127, 128, 254, 255}, 2, 3).to(ScalarType.Byte);
            SafeTensors.write(file, Map.of("images", pixels), null, SafeTensors.Dtype.F16);
            Tensor back = SafeTensors.read(file).tensors().get("images");
            assertEquals(ScalarType.Byte, back.scalar_type().intern());
            assertArrayEquals(new long[]{2, 3}, Ops.shape(back));
            assertArrayEquals(new long[]{0, 1, 127, 128, 254, 255}, Ops.toLongs(back));
            long header = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(8 + header + 6, Files.size(file), "six values, six bytes");
        }
    }

    @Test void writeRejectsTensorsOfOtherDtypesNamingThem() {
        try (var scope = new PointerScope()) {
            Tensor ints = Ops.fromLongs(new long[]{1, 2}, 2).to(ScalarType.Int);
            Path file = dir.resolve("x.safetensors");
            var e = assertThrows(IllegalArgumentException.class,
                    () -> SafeTensors.write(file, Map.of("ids", ints), null, SafeTensors.Dtype.F32));
            assertTrue(e.getMessage().startsWith("tensor 'ids' has dtype Int"), e.getMessage());
            assertFalse(Files.exists(file));
        }
    }

    // ---- corrupt files: each gives one line that names the file ----

    @Test void missingFileIsReportedAsNoSuchFile() {
        Path file = dir.resolve("models/x.safetensors");
        assertEquals(file + ": no such file", assertThrows(Add4jException.class, () -> SafeTensors.read(file)).getMessage());
    }

    @Test void fileShorterThanTheLengthFieldIsTruncated() throws IOException {
        Path file = Files.write(dir.resolve("short.safetensors"), new byte[5]);
        assertRejected(file, "truncated: the file has 5 bytes");
    }

    @Test void fileCutInsideTheHeaderIsTruncated() throws IOException {
        Path file = written("cut.safetensors");
        long n = headerLength(file);
        truncate(file, 20);
        assertRejected(file, "truncated: header says " + n + " bytes but the file has 20");
    }

    @Test void fileCutInsideTheDataHasOffsetsOutsideTheDataArea() throws IOException {
        Path file = written("cut.safetensors");
        truncate(file, Files.size(file) - 4);
        assertRejected(file, "tensor 'b' has data_offsets [12,28] outside the data area of 24 bytes");
    }

    @Test void absurdHeaderLengthIsRejectedBeforeAllocating() throws IOException {
        Path file = written("huge.safetensors");
        setHeaderLength(file, -1); // 2^64 - 1 unsigned
        assertRejected(file, "header length 18446744073709551615 is absurd");
        setHeaderLength(file, 1L << 40);
        assertRejected(file, "header length 1099511627776 is absurd");
    }

    @Test void shortenedHeaderLengthCutsTheJson() throws IOException {
        Path file = written("flip.safetensors");
        setHeaderLength(file, headerLength(file) - 8);
        assertRejected(file, "header is not valid JSON");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
        not JSON            | not json                                                                        | 0  | header is not valid JSON
        not an object       | [1,2,3]                                                                         | 0  | header is not a JSON object but array
        empty header        | ''                                                                              | 0  | header is not a JSON object but empty
        duplicate name      | {"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}} | 4 | Duplicate field 'a'
        entry not object    | {"a":3}                                                                         | 0  | tensor 'a' is 3, not an object
        unknown dtype       | {"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}                           | 1  | tensor 'a' has unknown dtype "Q4"
        missing dtype       | {"a":{"shape":[2],"data_offsets":[0,8]}}                                        | 8  | tensor 'a' has unknown dtype null
        negative dim        | {"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}                         | 4  | tensor 'a' has shape [-1]; expected a list of non-negative integers
        fractional dim      | {"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}                        | 4  | tensor 'a' has shape [1.5]; expected
        shape not a list    | {"a":{"dtype":"F32","shape":"3","data_offsets":[0,12]}}                         | 12 | tensor 'a' has shape "3"; expected
        offsets reversed    | {"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}                          | 8  | tensor 'a' has data_offsets [8,4]; expected [begin, end]
        offsets outside     | {"a":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}                      | 8  | tensor 'a' has data_offsets [0,400] outside the data area of 8 bytes
        wrong byte length   | {"unet.conv.weight":{"dtype":"F32","shape":[3,3],"data_offsets":[0,40]}}        | 40 | tensor 'unet.conv.weight' has shape [3,3] (9 values) but 40 bytes of F32
        overflowing shape   | {"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}      | 4  | tensor 'a' has shape [4294967296,4294967296], too many values
        overlapping ranges  | {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}} | 12 | tensor 'b' bytes [4,12) overlap tensor 'a' bytes [0,8)
        gap between ranges  | {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}} | 12 | not contiguous: 4 unused bytes before tensor 'b'
        not starting at 0   | {"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}                          | 8  | not contiguous: 4 unused bytes before tensor 'a'
        bytes after last    | {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}                          | 8  | not contiguous: 4 unused bytes after the last tensor
        metadata not string | {"__metadata__":{"k":1}}                                                        | 0  | __metadata__ 'k' is 1, not a string
        """)
    void inconsistentHeaderIsRejectedWithOneLineNamingTheFile(String what, String header, int dataBytes, String expected) throws IOException {
        assertRejected(raw("bad.safetensors", header, new byte[dataBytes]), expected);
    }

    @Test void headerThatIsNotUtf8IsRejected() throws IOException {
        Path file = raw("bad.safetensors", "{\"a\":\"x\"}", new byte[0]);
        try (var f = new RandomAccessFile(file.toFile(), "rw")) { f.seek(14); f.write(0xC3); f.write(0x28); } // invalid UTF-8 inside "x"
        assertRejected(file, "header is not valid JSON");
    }

    // ---- helpers ----

    private static void assertRejected(Path file, String expected) {
        String m = assertThrows(Add4jException.class, () -> SafeTensors.read(file)).getMessage();
        assertTrue(m.startsWith(file + ": "), "names the file: " + m);
        assertTrue(m.contains(expected), "expected '" + expected + "' in: " + m);
        assertFalse(m.contains("\n"), "one line: " + m);
    }

    /** A small valid file: 'a' F32 [3] at [0,12), 'b' I64 [2] at [12,28). */
    private Path written(String name) {
        try (var scope = new PointerScope()) {
            Path file = dir.resolve(name);
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("a", Ops.fromFloats(new float[]{1, 2, 3}, 3));
            m.put("b", Ops.fromLongs(new long[]{4, 5}, 2));
            SafeTensors.write(file, m, null, SafeTensors.Dtype.F32);
            return file;
        }
    }

    /** A file made by hand: the length field, {@code header} padded with spaces to 8 bytes, then {@code data}. */
    private Path raw(String name, String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        while (b.position() < 8 + padded) b.put((byte) ' ');
        b.put(data);
        Path file = dir.resolve(name);
        AtomicFiles.write(file, out -> out.write(b.array()));
        return file;
    }

    private static long headerLength(Path file) throws IOException {
        return ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private static void setHeaderLength(Path file, long n) throws IOException {
        try (var f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(n).array());
        }
    }

    private static void truncate(Path file, long size) throws IOException {
        try (var f = new RandomAccessFile(file.toFile(), "rw")) { f.setLength(size); }
    }

    private static int[] bits(float[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.floatToRawIntBits(v[i]);
        return out;
    }
}
