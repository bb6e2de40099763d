package dev.add4j.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (padded with spaces to a multiple of 8) describing each tensor's dtype, shape and byte range, then the raw
 * little-endian data. Files from Python's {@code safetensors} package can be read if they use F32, F16, BF16, I64 or U8.
 *
 * <p>Memory: tensors returned by {@link #read} are owned by libtorch (copies, not views of a freed buffer) and,
 * like every tensor, belong to the caller's {@link PointerScope} when one is open.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** How floating-point tensors are stored by {@link #write}. int64 and uint8 tensors are always stored as I64 and U8. */
    public enum Dtype {
        /** float32: exact. */
        F32,
        /** float16: half the size, about 3 significant digits, magnitudes above 65504 become infinite; for shipping small weights. */
        F16
    }

    /** What a file holds: tensors and string metadata, both in file order. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    /** A real header is kilobytes; a length past this means a corrupt or foreign file, not one to allocate for. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final String METADATA = "__metadata__";
    private static final int COPY_CHUNK = 1 << 16;
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // two tensors of one name: an error, not "last wins"
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** A dtype as stored in the file, with its size and the libtorch type it is written from or read into. */
    private enum Stored {
        F32(4, ScalarType.Float), F16(2, ScalarType.Half), BF16(2, ScalarType.BFloat16), I64(8, ScalarType.Long), U8(1, ScalarType.Byte);

        final int size;
        final ScalarType type;

        Stored(int size, ScalarType type) { this.size = size; this.type = type; }
    }

    /** One validated header entry. */
    private record Entry(String name, Stored dtype, long[] shape, long begin, long end) {}

    /**
     * Writes {@code tensors} (on any device) and {@code metadata} to {@code file}, atomically (see {@link AtomicFiles}).
     * Floating-point tensors are stored as {@code dtype}, int64 tensors as I64, uint8 tensors (images) as U8; data is laid out in map order.
     * @param metadata string pairs for the header's {@code __metadata__}; null or empty writes none
     * @throws IllegalArgumentException for a tensor that is undefined, of another dtype (int32, bool, ...),
     *         or named {@code __metadata__}
     * @throws Add4jException naming the file when it cannot be written
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, Dtype dtype) {
        requireLittleEndian();
        try (var scope = new PointerScope()) { // frees the shape vectors made while building the header
            ObjectNode header = MAPPER.createObjectNode();
            if (metadata != null && !metadata.isEmpty()) {
                ObjectNode m = header.putObject(METADATA);
                metadata.forEach((k, v) -> {
                    if (v == null) throw new IllegalArgumentException("metadata '" + k + "' is null; safetensors metadata values are strings");
                    m.put(k, v);
                });
            }
            List<Stored> stored = new ArrayList<>();
            long offset = 0;
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                String name = e.getKey();
                if (name.equals(METADATA)) throw new IllegalArgumentException("'" + METADATA + "' is reserved and cannot name a tensor");
                Stored s = storedAs(name, e.getValue(), dtype);
                long bytes = e.getValue().numel() * s.size;
                ObjectNode info = header.putObject(name);
                info.put("dtype", s.name());
                ArrayNode shape = info.putArray("shape");
                for (long d : Ops.shape(e.getValue())) shape.add(d);
                info.putArray("data_offsets").add(offset).add(offset + bytes);
                offset += bytes;
                stored.add(s);
            }
            byte[] json = MAPPER.writeValueAsBytes(header);
            int padded = (json.length + 7) / 8 * 8; // keeps the data 8-byte aligned, as the format asks
            AtomicFiles.write(file, out -> {
                out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
                out.write(json);
                out.write(" ".repeat(padded - json.length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                Iterator<Stored> s = stored.iterator();
                for (Tensor t : tensors.values()) writeData(out, t, s.next());
            });
        } catch (JacksonException e) {
            throw new IllegalStateException("cannot serialise a safetensors header", e); // a bug: the tree is ours
        }
    }

    private static Stored storedAs(String name, Tensor t, Dtype dtype) {
        if (t == null || !t.defined()) throw new IllegalArgumentException("tensor '" + name + "' is undefined");
        ScalarType type = t.scalar_type().intern(); // JavaCPP returns a fresh enum object; intern() gives the constant
        if (type == ScalarType.Long) return Stored.I64;
        if (type == ScalarType.Byte) return Stored.U8;
        if (t.is_floating_point()) return dtype == Dtype.F16 ? Stored.F16 : Stored.F32;
        throw new IllegalArgumentException("tensor '" + name + "' has dtype " + type
                + "; only floating-point, int64 and uint8 tensors can be written");
    }

    /** Streams one tensor's bytes, converted on libtorch's side to the stored type on the CPU. */
    private static void writeData(OutputStream out, Tensor t, Stored s) throws IOException {
        try (var scope = new PointerScope()) { // frees this tensor's CPU copy before the next one is made
            Tensor c = t.detach().to(new Device("cpu"), s.type).contiguous();
            long n = c.nbytes();
            if (n == 0) return;
            BytePointer p = new BytePointer(c.data_ptr()).capacity(n);
            byte[] buf = new byte[(int) Math.min(n, COPY_CHUNK)];
            for (long off = 0; off < n; off += buf.length) {
                int len = (int) Math.min(buf.length, n - off);
                p.position(off).get(buf, 0, len);
                out.write(buf, 0, len);
            }
        }
    }

    /**
     * Reads a safetensors file: floating-point tensors come back as CPU float32 (F16 and BF16 widened exactly),
     * I64 tensors as CPU int64, U8 as CPU uint8, in file order.
     * @throws Add4jException with one line naming the file when it is missing, unreadable, truncated or
     *         inconsistent (bad header, unknown dtype, bad shape, byte ranges outside the data, overlapping or with gaps)
     */
    public static Contents read(Path file) {
        requireLittleEndian();
        if (!Files.exists(file)) throw fail(file, "no such file");
        if (!Files.isRegularFile(file)) throw fail(file, "not a regular file");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw fail(file, "truncated: the file has " + size + " bytes, fewer than the 8-byte header length");
            ByteBuffer lengthField = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lengthField, 0);
            long n = lengthField.getLong(0); // unsigned in the format: negative here means above 2^63
            if (n < 0 || n > MAX_HEADER_BYTES)
                throw fail(file, "header length " + Long.toUnsignedString(n) + " is absurd (limit " + MAX_HEADER_BYTES
                        + " bytes); not a safetensors file?");
            if (8 + n > size) throw fail(file, "truncated: header says " + n + " bytes but the file has " + size);
            ByteBuffer headerBytes = ByteBuffer.allocate((int) n);
            readFully(ch, headerBytes, 8);
            JsonNode header = parseHeader(file, headerBytes.array());

            long dataStart = 8 + n;
            Map<String, String> metadata = metadata(file, header.get(METADATA));
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Entry e : entries(file, header, size - dataStart)) tensors.put(e.name(), load(ch, dataStart, e));
            return new Contents(tensors, metadata);
        } catch (NoSuchFileException e) {
            throw fail(file, "no such file");
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read: " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Refuses weights that hold NaN or infinity: a model with them loads, runs and writes images of nothing.
     * @throws Add4jException naming the file, the first such tensor (in file order) and how many values are bad
     */
    public static void requireFinite(Path file, Map<String, Tensor> tensors) {
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (!t.is_floating_point() || t.numel() == 0) continue;
            try (var scope = new PointerScope()) {
                long bad = t.numel() - torch.isfinite(t).sum().item_long();
                if (bad > 0)
                    throw fail(file, "tensor '" + e.getKey() + "' holds " + bad + " non-finite values (NaN or infinity) of "
                            + t.numel() + "; the model is broken");
            }
        }
    }

    private static JsonNode parseHeader(Path file, byte[] json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (IOException e) { // JacksonException, or CharConversionException for bytes that are not UTF-8
            String why = e instanceof JacksonException je ? je.getOriginalMessage() : e.getMessage();
            throw fail(file, "header is not valid JSON: " + oneLine(why));
        }
        if (root == null || root.isMissingNode()) throw fail(file, "header is not a JSON object but empty");
        if (!root.isObject()) throw fail(file, "header is not a JSON object but " + root.getNodeType().name().toLowerCase());
        return root;
    }

    private static Map<String, String> metadata(Path file, JsonNode node) {
        Map<String, String> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) return out;
        if (!node.isObject()) throw fail(file, METADATA + " is not an object of strings but " + node);
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) throw fail(file, METADATA + " '" + e.getKey() + "' is " + e.getValue() + ", not a string");
            out.put(e.getKey(), e.getValue().textValue());
        }
        return out;
    }

    /** The header's tensor entries, each checked alone, then together: sorted by offset they must tile the data exactly. */
    private static List<Entry> entries(Path file, JsonNode header, long dataLength) {
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : header.properties()) {
            if (field.getKey().equals(METADATA)) continue;
            entries.add(entry(file, field.getKey(), field.getValue(), dataLength));
        }
        entries.sort(Comparator.comparingLong(Entry::begin)); // stable: empty tensors keep header order
        long end = 0;
        Entry previous = null;
        for (Entry e : entries) {
            if (e.begin() < end)
                throw fail(file, "tensor '" + e.name() + "' bytes " + range(e) + " overlap tensor '" + previous.name() + "' bytes " + range(previous));
            if (e.begin() > end)
                throw fail(file, "data_offsets are not contiguous: " + (e.begin() - end) + " unused bytes before tensor '" + e.name() + "'");
            end = e.end();
            previous = e;
        }
        if (end != dataLength)
            throw fail(file, "data_offsets are not contiguous: " + (dataLength - end) + " unused bytes after the last tensor");
        return entries;
    }

    private static Entry entry(Path file, String name, JsonNode info, long dataLength) {
        String what = "tensor '" + name + "'";
        if (!info.isObject()) throw fail(file, what + " is " + info + ", not an object with dtype, shape and data_offsets");
        JsonNode dtypeNode = info.get("dtype");
        Stored dtype = null;
        for (Stored s : Stored.values()) if (dtypeNode != null && s.name().equals(dtypeNode.textValue())) dtype = s;
        if (dtype == null) throw fail(file, what + " has unknown dtype " + dtypeNode + " (this reader knows F32, F16, BF16, I64, U8)");
        long[] shape = naturals(info.get("shape"));
        if (shape == null) throw fail(file, what + " has shape " + info.get("shape") + "; expected a list of non-negative integers");
        long[] offsets = naturals(info.get("data_offsets"));
        if (offsets == null || offsets.length != 2 || offsets[0] > offsets[1])
            throw fail(file, what + " has data_offsets " + info.get("data_offsets") + "; expected [begin, end] with 0 <= begin <= end");
        if (offsets[1] > dataLength)
            throw fail(file, what + " has data_offsets " + str(offsets) + " outside the data area of " + dataLength + " bytes (truncated file?)");
        long count;
        try {
            count = Arrays.stream(shape).reduce(1, Math::multiplyExact);
            Math.multiplyExact(count, dtype.size);
        } catch (ArithmeticException e) {
            throw fail(file, what + " has shape " + str(shape) + ", too many values");
        }
        if (offsets[1] - offsets[0] != count * dtype.size)
            throw fail(file, what + " has shape " + str(shape) + " (" + count + " values) but " + (offsets[1] - offsets[0]) + " bytes of " + dtype);
        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** A JSON list of non-negative integers as longs, or null if it is anything else. */
    private static long[] naturals(JsonNode node) {
        if (node == null || !node.isArray()) return null;
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) return null;
            out[i] = v.longValue();
        }
        return out;
    }

    /** Copies one tensor's bytes from the file into native memory, then into a tensor that libtorch owns. */
    private static Tensor load(FileChannel ch, long dataStart, Entry e) throws IOException {
        long n = e.end() - e.begin();
        try (BytePointer buf = new BytePointer(Math.max(n, 1)); // one byte for empty tensors: no zero-size malloc
             TensorOptions options = new TensorOptions(e.dtype().type)) {
            for (long off = 0; off < n; ) {
                int len = (int) Math.min(n - off, 1 << 30); // a ByteBuffer holds at most 2 GB
                readFully(ch, buf.position(off).limit(off + len).asByteBuffer(), dataStart + e.begin() + off);
                off += len;
            }
            try (Tensor view = torch.from_blob(buf.position(0), e.shape(), options)) {
                // clone() and to(Float) both copy, so the result does not point into buf, which is freed here
                return e.dtype() == Stored.F16 || e.dtype() == Stored.BF16 ? view.to(ScalarType.Float) : view.clone();
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        while (dst.hasRemaining()) {
            int r = ch.read(dst, position);
            if (r < 0) throw new IOException("unexpected end of file at byte " + position);
            position += r;
        }
    }

    /** The raw bytes are copied as they are, which is right only where the CPU is little-endian like the format. */
    private static void requireLittleEndian() {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN)
            throw new UnsupportedOperationException("SafeTensors supports little-endian CPUs only");
    }

    private static Add4jException fail(Path file, String message) { return new Add4jException(file + ": " + message); }

    private static String range(Entry e) { return "[" + e.begin() + "," + e.end() + ")"; }

    private static String str(long[] values) { return Arrays.toString(values).replace(" ", ""); }

    private static String oneLine(String s) { return s == null ? "" : s.replaceAll("\\s*\\R\\s*", " ").trim(); }
}
